"""The LLM rewrite: grounding check and fallback, with fake providers (never the network)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from synthmatch.explain import llm
from synthmatch.explain.llm import (
    LLMError,
    LLMFallbackWarning,
    build_prompt,
    check_grounding,
    register_provider,
    rewrite_tutorial,
    unregister_provider,
)
from synthmatch.explain.recipe import build_recipe
from synthmatch.explain.tutorial import render_markdown, write_tutorial
from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def recipe():
    p = Preset.init()
    p.values.update(osc_2_on=1.0, osc_2_transpose=-12.0, filter_1_on=1.0, filter_1_cutoff=90.0, reverb_on=1.0)
    p.modulations = [Modulation("lfo_1", "filter_1_cutoff", amount=0.25)]
    return build_recipe(p)


@pytest.fixture()
def fake(request):
    """Register a provider returning ``request.param(template)``; unregister afterwards."""
    names = []

    def make(transform):
        name = f"fake_{len(names)}"

        @register_provider(name)
        def provider(system: str, prompt: str, timeout_s: float) -> str:
            template = prompt.split("transitions.\n\n", 1)[1]
            return transform(template)

        names.append(name)
        return name

    yield make
    for name in names:
        unregister_provider(name)


def _friendlier(template: str) -> str:
    return "Let's build it!\n\n" + template.replace("Set **", "Now set **")


def test_faithful_rewrite_is_used(recipe, fake):
    template = render_markdown(recipe)
    result = rewrite_tutorial(recipe, template, provider=fake(_friendlier))
    assert result.used_llm and result.problems == []
    assert result.text.startswith("Let's build it!")


def test_changed_value_falls_back_with_warning(recipe, fake):
    template = render_markdown(recipe)
    step = recipe.step_for("filter_1_cutoff")
    assert step is not None

    def change(text: str) -> str:
        return text.replace(f"**{step.display}**", "**3 kHz**")

    with pytest.warns(LLMFallbackWarning, match="not used"):
        result = rewrite_tutorial(recipe, template, provider=fake(change))
    assert not result.used_llm
    assert any("Filter 1 Cutoff" in p for p in result.problems)
    assert result.text.endswith(template) and result.text.startswith("> Note:")


def test_dropped_step_falls_back(recipe, fake):
    template = render_markdown(recipe)
    drop = lambda t: "\n".join(line for line in t.splitlines() if "Oscillator 2 Transpose" not in line)  # noqa: E731
    with pytest.warns(LLMFallbackWarning):
        result = rewrite_tutorial(recipe, template, provider=fake(drop))
    assert not result.used_llm
    assert any("Oscillator 2 Transpose" in p and "missing" in p for p in result.problems)


def test_invented_number_falls_back(recipe, fake):
    template = render_markdown(recipe)
    add = lambda t: t + "\nTip: also set the Reverb Mix to 37.5% for more space.\n"  # noqa: E731
    with pytest.warns(LLMFallbackWarning):
        result = rewrite_tutorial(recipe, template, provider=fake(add))
    assert any("37.5" in p for p in result.problems)


def test_provider_errors_fall_back(recipe, fake):
    template = render_markdown(recipe)

    def broken(text: str) -> str:
        raise LLMError("service unavailable")

    with pytest.warns(LLMFallbackWarning, match="service unavailable"):
        result = rewrite_tutorial(recipe, template, provider=fake(broken))
    assert not result.used_llm and template in result.text
    with pytest.warns(LLMFallbackWarning, match="unknown provider"):
        rewrite_tutorial(recipe, template, provider="nope")


@pytest.mark.parametrize(
    ("provider", "var"), [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")]
)
def test_builtin_providers_without_a_key_fall_back_offline(recipe, monkeypatch, provider, var):
    monkeypatch.delenv(var, raising=False)
    with pytest.warns(LLMFallbackWarning, match=var):
        result = rewrite_tutorial(recipe, render_markdown(recipe), provider=provider)
    assert not result.used_llm


def test_ollama_unreachable_falls_back(recipe, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.warns(LLMFallbackWarning, match="cannot reach"):
        result = rewrite_tutorial(recipe, render_markdown(recipe), provider="ollama")
    assert not result.used_llm


def test_http_payloads_are_well_formed(recipe, monkeypatch):
    """The anthropic provider sends the recipe in its prompt and reads the answer's text."""
    sent = {}

    class Answer:
        def __init__(self, body: bytes):
            self.body = body

        def read(self):
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(req, timeout):
        sent["url"], sent["headers"], sent["body"] = req.full_url, dict(req.headers), json.loads(req.data)
        template = sent["body"]["messages"][0]["content"].split("transitions.\n\n", 1)[1]
        return Answer(json.dumps({"content": [{"type": "text", "text": template}]}).encode())

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    result = rewrite_tutorial(recipe, render_markdown(recipe), provider="anthropic")
    assert result.used_llm
    assert sent["url"].endswith("/v1/messages") and sent["headers"]["X-api-key"] == "test-key"
    assert '"filter_1_cutoff"' in sent["body"]["messages"][0]["content"]


def test_grounding_accepts_unicode_minus_and_rejects_wrong_line(recipe):
    template = render_markdown(recipe)
    assert check_grounding(template, recipe, template=template) == []
    assert (
        check_grounding(template.replace("-12 semitones", "−12 semitones"), recipe, template=template) == []
    )
    # the value moved away from its control's line
    moved = re.sub(
        r"^(\d+\. Set \*\*Oscillator 2 Transpose\*\*).*$", r"\1 as shown below.", template, flags=re.M
    )
    assert moved != template
    problems = check_grounding(moved + "\n-12 semitones", recipe, template=template)
    assert problems == ["step 2: 'Oscillator 2 Transpose' does not show the value '-12 semitones'"]


def test_prompt_carries_the_recipe(recipe):
    prompt = build_prompt(recipe, render_markdown(recipe))
    facts = json.loads(prompt.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert [s["display"] for s in facts["steps"]] == [s.display for s in recipe.steps]
    assert "exactly" in llm.SYSTEM_PROMPT


def test_write_tutorial_with_llm_and_fallback(tmp_path, fake):
    preset = Preset.init()
    preset.values.update(filter_1_on=1.0, filter_1_cutoff=80.0)
    good = fake(_friendlier)
    paths = write_tutorial(preset, tmp_path / "good", llm=good)
    assert paths["tutorial"].read_text().startswith("Let's build it!")
    notes = json.loads(paths["recipe"].read_text())["notes"]
    assert any("checked against recipe.json" in n for n in notes)

    bad = fake(lambda t: "A short summary without the values.")
    with pytest.warns(LLMFallbackWarning):
        paths = write_tutorial(preset, tmp_path / "bad", llm=bad)
    text = paths["tutorial"].read_text()
    assert text.startswith("> Note:") and "**Filter 1 Cutoff**" in text
