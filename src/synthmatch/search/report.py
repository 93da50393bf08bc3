"""Writing a match to disk: preset, audio, JSON, a self-contained HTML report, and the tutorial."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import pathlib
import warnings
from typing import Any

import numpy as np

from synthmatch.audio.io import save_wav
from synthmatch.search.match import MatchResult
from synthmatch.search.scoring import PITCH_PENALTY_DB_PER_SEMITONE

log = logging.getLogger(__name__)


def _wav_b64(audio: np.ndarray, sr: int) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1, 1), sr, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode()


def spectrogram_png(signals: list[tuple[str, np.ndarray]], sr: int) -> bytes:
    """Side-by-side log-mel spectrograms (PNG bytes): 96 mel bands, 2048-point frames, 80 dB range."""
    import matplotlib

    from synthmatch.dsp import mel_filterbank, power_spectrum, power_to_db, stft

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(signals), figsize=(3.2 * len(signals), 2.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (title, y) in zip(axes, signals):
        fb = mel_filterbank(sample_rate=sr, n_fft=2048, n_mels=96)
        m = fb @ power_spectrum(stft(y.astype(np.float32), n_fft=2048, hop_length=512)).T
        db = power_to_db(m, eps=1e-12, ref=max(float(m.max()), 1e-12))
        db = np.maximum(db, -80.0)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, len(y) / sr, 0, 96))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mel band", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def render_html(result: MatchResult, *, tutorial: str | None = None) -> str:
    """The self-contained report page; ``tutorial`` is the tutorial's HTML section
    (:func:`synthmatch.explain.tutorial_html.tutorial_section`)."""
    sr = result.sample_rate
    metric_names = [m for m in result.best.metrics if m != "objective"]  # the score is its own column
    rows = []
    for i, c in enumerate(result.candidates):
        cells = "".join(f"<td>{c.metrics[m]:.4g}</td>" for m in metric_names)
        score = f"{c.score:.4g}" if c.metrics else "not rendered"
        listen = (
            f"<audio controls src='data:audio/wav;base64,{_wav_b64(c.audio, sr)}'></audio>"
            if c.audio.size
            else ""
        )
        rows.append(
            f"<tr><td>{i + 1}</td><td><b>{score}</b></td><td>{html.escape(str(c.origin))}</td>{cells}"
            f"<td>{listen}</td></tr>"
        )
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metric_names)
    png = spectrogram_png(
        [("target", result.target)]
        + [(f"candidate {i + 1}", c.audio) for i, c in enumerate(result.candidates) if c.audio.size],
        sr,
    )
    an = result.analysis
    tut = f"<h2>Tutorial</h2>{tutorial}" if tutorial else ""
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in an.get("warnings") or ())
    notes = f"<p><b>About the target:</b></p><ul>{notes}</ul>" if notes else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>synthmatch report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:1em}}</style></head><body>
<h1>synthmatch: match report</h1>
<p>Target: {html.escape(str(an.get("source")))} — note {result.probe.note} (detected {an.get("midi_note")}, pitched: {an.get("pitched")}),
note length {result.probe.note_seconds:.2f} s, velocity {result.probe.velocity:.2f}; {result.renders} renders in {result.timings.get("total", 0):.1f} s.</p>
{notes}<p>Target: <audio controls src="data:audio/wav;base64,{_wav_b64(result.target, sr)}"></audio></p>
<h2>Candidates</h2>
<p>Ranked by <b>score</b> (dB): MSS-mel plus {PITCH_PENALTY_DB_PER_SEMITONE} dB per semitone the candidate's pitch is off a
pitched target's. Lower is better for every column except rms_cos.</p>
<div style="overflow-x:auto"><table><tr><th>#</th><th>score</th><th>origin</th>{head}<th>listen</th></tr>{"".join(rows)}</table></div>
<h2>Spectrograms</h2><img alt="spectrograms" src="data:image/png;base64,{base64.b64encode(png).decode()}">
{tut}
<h2>Details</h2><pre>{html.escape(json.dumps(result.to_dict(), indent=1, default=str))}</pre>
</body></html>"""


def write_outputs(
    result: MatchResult,
    out_dir: str | os.PathLike[str],
    *,
    tutorial: bool = True,
    llm: str | None = None,
    measure: bool = True,
    pool: Any = None,
) -> dict[str, pathlib.Path]:
    """Write ``preset.vital``, ``match.wav``, ``candidates/``, ``match.json``, ``report.html`` and the
    tutorial (no ``.wav`` of a candidate that was not rendered: a match with ``budget=0``).
    ``measure`` ranks the tutorial's steps by ablation renders (:mod:`synthmatch.explain.ablation`),
    on ``pool`` (default: the process-wide one)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, pathlib.Path] = {}
    sr = result.sample_rate
    paths["preset"] = result.best.preset.write(out / "preset.vital")
    if result.best.audio.size:
        paths["audio"] = save_wav(out / "match.wav", result.best.audio, sr)
    save_wav(out / "target.wav", result.target, sr)
    cdir = out / "candidates"
    cdir.mkdir(exist_ok=True)
    for i, c in enumerate(result.candidates):
        c.preset.write(cdir / f"candidate_{i + 1}.vital")
        if c.audio.size:
            save_wav(cdir / f"candidate_{i + 1}.wav", c.audio, sr)
    section = None
    if tutorial:
        from synthmatch.explain.tutorial import write_tutorial
        from synthmatch.explain.tutorial_html import section_of_page

        try:
            audio = result.best.audio if result.best.audio.size else None
            tpaths = write_tutorial(
                result.best.preset,
                out,
                audio=audio,
                sample_rate=sr,
                note_seconds=result.probe.note_seconds,
                llm=llm,
                measure=measure,
                probe=result.probe,
                pool=pool,
            )
            paths.update({f"tutorial_{k}": pathlib.Path(v) for k, v in tpaths.items()})
            section = section_of_page(tpaths["html"].read_text(encoding="utf-8"))
        except Exception as exc:  # the match itself must not be lost
            warnings.warn(f"tutorial could not be written: {exc!r}", stacklevel=2)
    doc: dict[str, Any] = result.to_dict()
    doc["files"] = {k: str(v) for k, v in paths.items()}
    (out / "match.json").write_text(json.dumps(doc, indent=1, default=str))
    paths["json"] = out / "match.json"
    (out / "report.html").write_text(render_html(result, tutorial=section))
    paths["report"] = out / "report.html"
    return paths
