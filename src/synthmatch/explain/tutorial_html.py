"""The tutorial as HTML: the same tiers as the Markdown, with figures, for reports and the web page.

:func:`tutorial_section` is a fragment (one ``<section>``, its styles scoped to it) that
``report.html`` and the web page embed; :func:`tutorial_page` wraps it into a standalone page.
Every text comes from the recipe and is escaped; the figures are the inline SVG of
:mod:`synthmatch.explain.figures`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from synthmatch.explain.ablation import group_of
from synthmatch.explain.figures import Figure
from synthmatch.explain.recipe import PRECISION_NOTE, Recipe, Step
from synthmatch.explain.tiers import build_groups, detail_sections
from synthmatch.explain.tutorial import _SECTION_HINTS, action_text

__all__ = ["TUTORIAL_CSS", "inline_markdown", "section_of_page", "tutorial_page", "tutorial_section"]

#: Styles of the fragment (scoped to ``.sm-tutorial``).
TUTORIAL_CSS = """
.sm-tutorial{font-family:system-ui,sans-serif;line-height:1.45;color:#1d1d1f}
.sm-tutorial .category{font-size:1.05em}
.sm-tutorial .category b{background:#eef3ff;border-radius:4px;padding:1px 6px}
.sm-tutorial .tags{color:#666;font-size:.9em}
.sm-tutorial .figures{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0}
.sm-tutorial figure{margin:0;border:1px solid #e3e3e3;border-radius:6px;padding:6px;background:#fff;max-width:490px}
.sm-tutorial figcaption{font-size:12px;color:#555;margin-top:4px}
.sm-tutorial ol.build>li{margin:.6em 0;padding:.5em .7em;border-left:3px solid #4a7bd0;background:#f7f9fd}
.sm-tutorial .panel{font-weight:600}
.sm-tutorial .v{font-variant-numeric:tabular-nums;background:#fff3d6;border-radius:3px;padding:0 4px;font-weight:600}
.sm-tutorial .why{color:#444;font-size:.93em}
.sm-tutorial .impact{color:#7a3e00;font-size:.9em}
.sm-tutorial .db{font-weight:600}
.sm-tutorial table{border-collapse:collapse;font-size:13px}
.sm-tutorial td{border-bottom:1px solid #eee;padding:3px 10px 3px 0}
.sm-tutorial details{margin:1em 0}
.sm-tutorial code{background:#f2f2f2;padding:0 3px;border-radius:3px}
"""

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_CODE = re.compile(r"`([^`]+)`")


def inline_markdown(text: str) -> str:
    """Escape ``text`` and turn its inline Markdown (``**bold**``, ``*italic*``, ```code```) into
    HTML; values in bold become value badges."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    return _ITALIC.sub(r"<i>\1</i>", out)


def _action(step: Step, *, knob: bool) -> str:
    text = inline_markdown(action_text(step, knob=knob))
    # the value (the last bold run after "to" / "amount") is the thing to type: mark it
    return re.sub(r"(to|amount) <b>(.+?)</b>", r'\1 <span class="v">\2</span>', text)


def _impact(text: str) -> str:
    if not text:
        return ""
    marked = re.sub(r"(\d+(?:\.\d+)? dB)", r'<span class="db">\1</span>', html.escape(text))
    return f'<div class="impact">{marked}</div>'


def _idea(recipe: Recipe) -> list[str]:
    idea = recipe.idea or {}
    out = ["<h2>The idea</h2>"]
    if idea.get("category"):
        reason = html.escape(str(idea.get("category_reason", "")))
        # "a pluck: it starts ..." → "This is <b>a pluck</b>: it starts ..."
        reason = re.sub(r"^([^:]+):", r"<b>\1</b>:", reason, count=1)
        out.append(f'<p class="category">This is {reason}.</p>')
    if idea.get("sentences"):
        out.append("<p>" + " ".join(html.escape(str(s)) for s in idea["sentences"]) + "</p>")
    if recipe.description is not None:
        out.append(f"<p>{html.escape(recipe.description.text)}</p>")
        if recipe.description.tags:
            out.append(f'<p class="tags">Tags: {html.escape(", ".join(recipe.description.tags))}</p>')
    return out


def _figures(figures: Sequence[Figure]) -> list[str]:
    if not figures:
        return []
    items = [
        f'<figure id="fig-{html.escape(f.key)}">{f.svg}<figcaption><b>{html.escape(f.title)}.</b> '
        f"{html.escape(f.caption)}</figcaption></figure>"
        for f in figures
    ]
    return ['<div class="figures">', *items, "</div>"]


def _build(recipe: Recipe) -> list[str]:
    groups = build_groups(recipe)
    m = recipe.measured or {}
    effects = m.get("group_effects", {})
    out = [f"<h2>Build it ({len(groups)} steps)</h2>"]
    if not groups:
        return [*out, "<p>Nothing to build: no step has an audible effect at the probe note.</p>"]
    out.append(
        "<p>The steps that matter most, the most audible first; values as the knobs show them "
        "(double-click a knob to type one).</p>"
    )
    out.append('<ol class="build">')
    for g in groups:
        first = g[0]
        impact = _impact(effects.get(group_of(first), first.effect))
        if len(g) == 1:
            why = f'<div class="why">{html.escape(first.why)}</div>' if first.why else ""
            out.append(f"<li>{_action(first, knob=True)}{why}{impact}</li>")
            continue
        head = "Effects" if first.section == "Effects chain" else first.section
        items = "".join(f"<li>{_action(s, knob=True)}</li>" for s in g)
        out.append(f'<li><div class="panel">{html.escape(head)}</div><ul>{items}</ul>{impact}</li>')
    out.append("</ol>")
    if m.get("build_db") is not None:
        out.append(
            f"<p>These {len(groups)} steps alone land <b>{float(m['build_db']):.1f} dB</b> (MSS-mel) "
            "from the full preset; the fine details below close the rest.</p>"
        )
    return out


def _details(recipe: Recipe, start: int) -> list[str]:
    rounded = [s for g in build_groups(recipe) for s in g if s.knob]
    details = recipe.tier("detail")
    if not rounded and not details:
        return []
    out = ["<h2>Fine details</h2>", f"<p>{html.escape(PRECISION_NOTE)}</p>"]
    if rounded:
        out.append("<h3>Exact values for the steps above</h3><table>")
        out += [
            f'<tr><td>{html.escape(s.label)}</td><td><span class="v">{html.escape(s.display)}</span></td></tr>'
            for s in rounded
        ]
        out.append("</table>")
    number = start
    for section, steps in detail_sections(recipe):
        out.append(f"<h3>{html.escape(section)}</h3>")
        if section in _SECTION_HINTS:
            out.append(f"<p>{inline_markdown(_SECTION_HINTS[section])}</p>")
        out.append(f'<ol start="{number + 1}">')
        for s in steps:
            why = f'<div class="why">{html.escape(s.why)}</div>' if s.why else ""
            out.append(f"<li>{_action(s, knob=False)}{why}{_impact(s.effect)}</li>")
        out.append("</ol>")
        number += len(steps)
    return out


def _silent(recipe: Recipe, start: int) -> list[str]:
    silent = recipe.tier("silent")
    if not silent:
        return []
    items = "".join(f"<li>{_action(s, knob=False)}</li>" for s in silent)
    return [
        f"<details><summary>No audible effect ({len(silent)} settings)</summary>",
        "<p>These settings change nothing you can hear at the probe note; set them only for an exact copy.</p>",
        f'<ol start="{start + 1}">{items}</ol></details>',
    ]


def _all_steps(recipe: Recipe) -> list[str]:
    """The untiered tutorial (no measurements): every step by module."""
    out = []
    for section in recipe.sections:
        out.append(f"<h3>{html.escape(section)}</h3><ol>")
        for s in recipe.steps_in(section):
            why = f'<div class="why">{html.escape(s.why)}</div>' if s.why else ""
            out.append(f'<li value="{s.order}">{_action(s, knob=False)}{why}</li>')
        out.append("</ol>")
    return out


def tutorial_section(recipe: Recipe, figures: Sequence[Figure] = ()) -> str:
    """The tutorial as one HTML ``<section>`` (with its ``<style>``)."""
    out = [f"<section class='sm-tutorial'><style>{TUTORIAL_CSS}</style>"]
    out.append(f"<h1>{html.escape(recipe.title)}: how to build it in Vital</h1>")
    out += [f"<blockquote>{html.escape(n)}</blockquote>" for n in recipe.notes]
    out += _idea(recipe)
    out += _figures(figures)
    out.append(
        "<h2>Before you start</h2><p>Start from Vital's init preset: click the preset name at the top → "
        "<b>Initialize Preset</b>. Every setting not listed stays at its init value.</p>"
    )
    if recipe.assets:
        files = ", ".join(f"<code>{html.escape(a.file)}</code>" for a in recipe.assets.values())
        out.append(f"<p>Files to load (next to this tutorial): {files}.</p>")
    if any(s.tier for s in recipe.steps):
        n_groups = len(build_groups(recipe))
        out += _build(recipe)
        out += _details(recipe, n_groups)
        out += _silent(recipe, n_groups + len(recipe.tier("detail")))
    else:
        out += ["<h2>Steps</h2>", f"<p>{html.escape(PRECISION_NOTE)}</p>", *_all_steps(recipe)]
    if recipe.variations:
        out.append("<h2>Variations to try</h2><ol>")
        out += [f"<li>{inline_markdown(v.text)}</li>" for v in recipe.variations]
        out.append("</ol>")
    out.append("</section>")
    return "\n".join(out)


def section_of_page(page: str) -> str:
    """The :func:`tutorial_section` inside a :func:`tutorial_page` (the page itself if it has none)."""
    start = page.find("<section class='sm-tutorial'>")
    end = page.rfind("</section>")
    return page[start : end + len("</section>")] if start >= 0 and end > start else page


def tutorial_page(recipe: Recipe, figures: Sequence[Figure] = ()) -> str:
    """A standalone HTML page of the tutorial."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(recipe.title)}: how to build it in Vital</title>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<style>body{max-width:1000px;margin:2em auto;padding:0 1em}</style></head><body>"
        f"{tutorial_section(recipe, figures)}</body></html>"
    )
