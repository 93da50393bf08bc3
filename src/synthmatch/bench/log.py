"""The attempt log: finished attempts, appended to the report folder so an interrupted run resumes,
and reused only under the same settings (:func:`settings_key`) and the same analysis of the item
(:func:`analysis_inputs`)."""

from __future__ import annotations

import json
import pathlib
import zlib
from typing import Any

from synthmatch import __version__
from synthmatch.bench.methods import METHODS, Attempt
from synthmatch.bench.suites import Item
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset


class AttemptLog:
    """Append-only JSON-lines record of finished attempts, so an interrupted run resumes.

    One file per (suite, method) in the report folder. A line is reused only when its ``key`` (the
    settings that decide the result: method, budget, library, spec, search revision) equals the
    current one and its ``inputs`` (:func:`analysis_inputs`: what the note analysis hands the
    method for that item) equal the item's now. So changing a setting re-runs the items instead of
    mixing results, and a change to the analysis re-runs exactly the items whose probe or f0 it
    moves.

    ``legacy_key`` is the key of lines written before lines carried their inputs (the analysis
    revision was then part of the key): such a line is reused while that revision is still
    current, and an upgraded line with the item's inputs is appended to the log.
    """

    def __init__(
        self, folder: pathlib.Path, suite: str, method: str, key: str, *, legacy_key: str | None = None
    ) -> None:
        self.path = folder / f"attempts_{suite}_{method}.jsonl"
        self.key = key
        self.rows: dict[str, dict[str, Any]] = {}
        self._cut = False  # the last line was cut short: the next one starts on a line of its own
        if self.path.exists():
            text = self.path.read_text()
            self._cut = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                if row.get("key") == key and "inputs" in row:
                    self.rows[row["item"]] = row
                elif legacy_key is not None and row.get("key") == legacy_key:
                    self.rows.setdefault(row["item"], row)

    def reuse(self, item: str, inputs: str) -> Attempt | None:
        """The logged attempt on ``item`` when it was made from the same ``inputs``, else None."""
        row = self.rows.get(item)
        if row is None:
            return None
        if "inputs" not in row:  # a legacy line, valid under the current analysis revision
            a = self._decode(row)
            self.add(item, a, inputs)
            return a
        return self._decode(row) if row["inputs"] == inputs else None

    @staticmethod
    def _decode(row: dict[str, Any]) -> Attempt:
        preset = Preset.from_vital(row["preset"]) if row["preset"] is not None else None
        return Attempt(
            preset,
            Probe.from_dict(row["probe"]),
            int(row["renders"]),
            float(row["seconds"]),
            row["detected_note"],
            row.get("release_s"),
        )

    def add(self, item: str, a: Attempt, inputs: str) -> None:
        row = {
            "item": item,
            "key": self.key,
            "inputs": inputs,
            "preset": a.preset.to_vital() if a.preset is not None else None,
            "probe": a.probe.to_dict(),
            "renders": a.renders,
            "seconds": a.seconds,
            "detected_note": a.detected_note,
            "release_s": a.release_s,
        }
        self.rows[item] = row
        with self.path.open("a") as f:
            f.write(("\n" if self._cut else "") + json.dumps(row) + "\n")
        self._cut = False


def analysis_inputs(item: Item) -> str:
    """What the note analysis hands the methods for ``item``, as a short hash.

    Two readings, each the probe and the f0 the search aims at, plus the detected note and release
    the report scores: the matcher's (:func:`synthmatch.search.match.read_target`, on the clip
    with its silent end trimmed) and the baselines' (``analyze`` on the clip as given). Every float
    goes in exactly (``repr``): the analysis is deterministic, so unchanged code gives the same hash.
    """
    from synthmatch.audio.analysis import analyze
    from synthmatch.search.match import probe_for, read_target, target_f0_of

    sr = item.sample_rate
    _, _, an_m, probe_m = read_target((item.audio, sr), sample_rate=sr)
    an_b = analyze(item.audio, sr)
    probe_b = probe_for(an_b, duration_s=len(item.audio) / sr, sample_rate=sr)
    parts = [
        (probe.to_dict(), target_f0_of(an), an.midi_note, an.release_s)
        for an, probe in ((an_m, probe_m), (an_b, probe_b))
    ]
    return format(zlib.crc32(repr(parts).encode()), "08x")


def settings_key(
    method: str,
    *,
    budget: int,
    matcher: Any,
    external_dir: str | None = None,
    train_library: str | None = None,
    legacy: bool = False,
) -> str:
    """What decides a method's result on an item, for reusing logged attempts (besides the item's
    analysis, which each logged line carries: :func:`analysis_inputs`): the method, the package
    version and the parameter space, and what its registration declares
    (:class:`~synthmatch.bench.methods.MethodSpec`): the budget and the search revision, the
    library's provenance, the external folder, the method's own settings.

    ``legacy``: the key of lines written before they carried their analysis, which named the
    analysis revision instead (:class:`AttemptLog`)."""
    from synthmatch.search.match import MATCH_REVISION, REFINER_REVISION
    from synthmatch.vital.spec import default_space

    spec = METHODS[method]
    parts: dict[str, Any] = {"method": method, "version": __version__, "spec": default_space().spec_hash}
    if legacy:
        from synthmatch.audio.analysis import ANALYSIS_REVISION

        parts["analysis"] = ANALYSIS_REVISION
    if spec.revision is not None:
        parts["budget"] = budget
        # the whole pipeline for the matcher's lines; the refiner alone for the search lines
        parts["revision"] = MATCH_REVISION if spec.revision == "match" else REFINER_REVISION
    if spec.library:
        parts["library"] = zlib.crc32(
            json.dumps(matcher.library.provenance, sort_keys=True, default=str).encode()
        )
    if spec.external_dir:
        parts["external_dir"] = str(pathlib.Path(external_dir or ".").resolve())
    if spec.train_library and train_library:
        from synthmatch.bench.methods import load_train_library, train_library_for

        # the provenance of the library this method reads (of the learned embedding: the model's
        # fingerprint too), so adding another library to --train-library keeps the others' lines
        path = train_library_for(method, train_library)
        provenance = load_train_library(path).provenance if path else None
        parts["train_library"] = zlib.crc32(json.dumps(provenance, sort_keys=True, default=str).encode())
    if spec.estimator:
        parts["estimator"] = matcher.source("estimator").estimator.fingerprint
    if spec.settings is not None:  # the method's own settings (the GA's render count)
        parts.update(spec.settings())
    return json.dumps(parts, sort_keys=True)
