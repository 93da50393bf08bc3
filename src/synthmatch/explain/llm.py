"""Optional prose rewrite of the tutorial by a language model, grounded on the recipe.

Providers are plain functions ``(system, prompt, timeout_s) -> text`` in a registry
(:func:`register_provider`); ``anthropic``, ``openai`` and ``ollama`` are built in and use the
standard library only (``urllib``). Keys come from the environment when a provider is called:
``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``; Ollama runs at ``OLLAMA_HOST`` (default
``http://localhost:11434``). Models can be chosen with ``SYNTHMATCH_ANTHROPIC_MODEL``,
``SYNTHMATCH_OPENAI_MODEL`` and ``SYNTHMATCH_OLLAMA_MODEL``.

The rewrite is used only if it passes :func:`check_grounding`: every step's control label
appears on a line together with its exact displayed value, and every number in the text is a
number of the template tutorial. Otherwise — no key, a network error, a refusal, a changed or
dropped value — :func:`rewrite_tutorial` warns and returns the template tutorial with a note.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthmatch.errors import SynthmatchError
from synthmatch.explain.recipe import Recipe

Provider = Callable[[str, str, float], str]
"""``provider(system, prompt, timeout_s) -> text``; raises :class:`LLMError` when unavailable."""

_PROVIDERS: dict[str, Provider] = {}


class LLMError(SynthmatchError):
    """A language-model provider is unavailable or failed."""


class LLMFallbackWarning(UserWarning):
    """The LLM rewrite was not used; the template tutorial was written instead."""


def register_provider(name: str) -> Callable[[Provider], Provider]:
    """Register ``fn`` as provider ``name`` (replacing any provider of that name)."""

    def deco(fn: Provider) -> Provider:
        _PROVIDERS[name] = fn
        return fn

    return deco


def unregister_provider(name: str) -> None:
    _PROVIDERS.pop(name, None)


def providers() -> list[str]:
    """Names of the registered providers."""
    return sorted(_PROVIDERS)


def _post_json(url: str, payload: dict[str, Any], headers: dict[str, str], timeout_s: float) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", errors="replace")[:300]
        raise LLMError(f"{url} answered HTTP {exc.code}: {body}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise LLMError(f"cannot reach {url}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LLMError(f"{url} did not answer JSON: {exc}") from None


def _key(var: str, provider: str) -> str:
    key = os.environ.get(var, "").strip()
    if not key:
        raise LLMError(f"the {provider} provider needs an API key in ${var}")
    return key


@register_provider("anthropic")
def _anthropic(system: str, prompt: str, timeout_s: float) -> str:
    key = _key("ANTHROPIC_API_KEY", "anthropic")
    data = _post_json(
        "https://api.anthropic.com/v1/messages",
        {
            "model": os.environ.get("SYNTHMATCH_ANTHROPIC_MODEL", "claude-3-5-haiku-latest"),
            "max_tokens": 8000,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        },
        {"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout_s,
    )
    try:
        return "".join(part.get("text", "") for part in data["content"])
    except (KeyError, TypeError):
        raise LLMError(f"unexpected answer from anthropic: {str(data)[:200]}") from None


@register_provider("openai")
def _openai(system: str, prompt: str, timeout_s: float) -> str:
    key = _key("OPENAI_API_KEY", "openai")
    data = _post_json(
        "https://api.openai.com/v1/chat/completions",
        {
            "model": os.environ.get("SYNTHMATCH_OPENAI_MODEL", "gpt-4o-mini"),
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        },
        {"authorization": f"Bearer {key}"},
        timeout_s,
    )
    try:
        return str(data["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise LLMError(f"unexpected answer from openai: {str(data)[:200]}") from None


@register_provider("ollama")
def _ollama(system: str, prompt: str, timeout_s: float) -> str:
    host = os.environ.get("OLLAMA_HOST", "http://localhost:11434").rstrip("/")
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    data = _post_json(
        f"{host}/api/chat",
        {
            "model": os.environ.get("SYNTHMATCH_OLLAMA_MODEL", "llama3.1"),
            "stream": False,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
        },
        {},
        timeout_s,
    )
    try:
        return str(data["message"]["content"])
    except (KeyError, TypeError):
        raise LLMError(f"unexpected answer from ollama: {str(data)[:200]}") from None


# ---------------------------------------------------------------------------------------
# prompt and grounding
# ---------------------------------------------------------------------------------------
SYSTEM_PROMPT = (
    "You are a sound-design teacher writing a tutorial for the Vital synthesizer. You rewrite a "
    "step-by-step tutorial into friendlier, clearer prose for musicians. It comes in tiers (The "
    "idea, Build it, Fine details, No audible effect): keep them, in that order, with their "
    "headings. Hard rules: keep every numbered step and every line of exact values, in the same "
    "order, as one line that contains the control name exactly as written between ** ** and its "
    "value exactly as written (same digits, same unit); do not round, convert or omit any value "
    "or measurement (dB); do not add any number that is not in the tutorial; keep file names "
    "unchanged. Answer with the Markdown tutorial only."
)


def build_prompt(recipe: Recipe, template: str) -> str:
    """The user prompt: the recipe JSON (the facts) and the template tutorial to rewrite."""
    facts = json.dumps(recipe.to_dict(), indent=1, ensure_ascii=False)
    return (
        "Here is the recipe (JSON) with every step's control label and displayed value:\n\n"
        f"```json\n{facts}\n```\n\n"
        "Rewrite this tutorial. Keep each step's label and value exactly; you may improve the "
        "explanations, the introduction and the transitions.\n\n"
        f"{template}"
    )


_NUM = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?")


def _normalize(text: str) -> str:
    text = text.replace("−", "-").replace("->", "→").replace("\u00a0", " ").replace("*", "").replace("`", "")
    return re.sub(r"[ \t]+", " ", text).lower()


def _numbers(text: str) -> set[float]:
    out = set()
    for m in _NUM.finditer(_normalize(text)):
        try:
            out.add(float(m.group(0).replace("−", "-")))
        except ValueError:
            continue
    return out


def _facts(recipe: Recipe) -> str:
    """Every number the recipe states: values, knob readings, measurements, the idea."""
    lines = [f"{s.order} {s.label} {s.display} {s.approx} {s.knob} {s.effect}" for s in recipe.steps]
    m = recipe.measured or {}
    if m.get("build_db") is not None:
        lines.append(f"{len(m.get('build_order', []))} {float(m['build_db']):.1f}")
    lines += [str(v) for v in dict(m.get("group_effects", {})).values()]
    if recipe.idea:
        lines.append(str(recipe.idea.get("text", "")))
    if recipe.description is not None:
        lines.append(recipe.description.text)
    return "\n".join(lines)


def check_grounding(text: str, recipe: Recipe, *, template: str | None = None) -> list[str]:
    """What in ``text`` is not grounded on ``recipe`` (empty when the text is faithful).

    Every step must have a line holding its control label and its exact displayed value (for
    connections: the "source → destination" label and the amount). Every number in the text
    must appear in ``template`` (the template tutorial, or the recipe's values when omitted).
    """
    problems: list[str] = []
    lines = [_normalize(line) for line in text.splitlines()]
    for step in recipe.steps:
        label = _normalize(step.label)
        value = _normalize(step.value)
        unit = _normalize(step.unit)
        pattern = re.escape(value) + (r"\s?" + re.escape(unit) if unit else "")
        value_re = re.compile(r"(?<![\w.])" + pattern + r"(?![\w]|\.\d)")
        candidates = [line for line in lines if label in line]
        if not candidates:
            problems.append(f"step {step.order}: the control {step.label!r} is missing")
        elif not any(value_re.search(line) for line in candidates):
            problems.append(f"step {step.order}: {step.label!r} does not show the value {step.display!r}")
    reference = template if template is not None else _facts(recipe)
    allowed = _numbers(reference)
    extra = sorted(_numbers(text) - allowed)
    if extra:
        shown = ", ".join(f"{x:g}" for x in extra[:8])
        problems.append(f"numbers not in the recipe: {shown}")
    return problems


@dataclass
class RewriteResult:
    """The tutorial text to write, whether the LLM's text was used, and why not."""

    text: str
    used_llm: bool
    provider: str
    problems: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        if self.used_llm:
            return f"Prose written by the {self.provider} language model and checked against recipe.json."
        return (
            f"The {self.provider} rewrite was not used ({'; '.join(self.problems)[:300]}); "
            "this is the template tutorial."
        )


def rewrite_tutorial(
    recipe: Recipe, template: str, *, provider: str, timeout_s: float = 120.0
) -> RewriteResult:
    """Rewrite ``template`` with ``provider``; fall back to ``template`` (with a warning) on any failure."""
    fn = _PROVIDERS.get(provider)
    problems: list[str]
    if fn is None:
        problems = [f"unknown provider {provider!r}; registered: {', '.join(providers()) or 'none'}"]
    else:
        try:
            text = fn(SYSTEM_PROMPT, build_prompt(recipe, template), timeout_s)
        except LLMError as exc:
            problems = [str(exc)]
        except Exception as exc:  # a provider plug-in failing in any way must not lose the tutorial
            problems = [f"{type(exc).__name__}: {exc}"]
        else:
            text = _strip_fences(text)
            problems = check_grounding(text, recipe, template=template)
            if not problems:
                return RewriteResult(text=text, used_llm=True, provider=provider)
    result = RewriteResult(text="", used_llm=False, provider=provider, problems=problems)
    warnings.warn(f"LLM rewrite not used: {result.note}", LLMFallbackWarning, stacklevel=2)
    result.text = f"> Note: {result.note}\n\n{template}"
    return result


def _strip_fences(text: str) -> str:
    t = text.strip()
    m = re.fullmatch(r"```(?:markdown|md)?\s*\n(.*)\n```", t, flags=re.S)
    return m.group(1) if m else t
