"""The recipe's data model and file format: :class:`Step`, :class:`Asset`, :class:`Recipe`.

A recipe is JSON (``format`` ``"synthmatch.recipe"``, ``version`` :data:`RECIPE_VERSION`); the files
its steps load (wavetables, LFO shapes, a sample as a 16-bit WAV, modulation remap curves) are
written next to it by :meth:`Recipe.write_assets`. Building a recipe from a preset and following
it back are in :mod:`synthmatch.explain.recipe`.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from synthmatch.errors import PresetError
from synthmatch.explain import display as disp
from synthmatch.explain.descriptors import SoundDescription
from synthmatch.explain.variations import Variation
from synthmatch.vital.wavetables import write_vitaltable

Action = Literal["set", "load", "connect", "order"]
AssetKind = Literal["wavetable", "lfo_shape", "sample", "remap"]

RECIPE_FORMAT = "synthmatch.recipe"
RECIPE_VERSION = 2
PRECISION_NOTE = (
    "Numbers show the fewest significant digits (at least "
    f"{disp.MIN_SIGNIFICANT}) that give back exactly the value the preset stores; long ones come "
    "with a rounded reading (≈). Type the full value to rebuild the sound exactly (double-click a "
    "knob to enter a value). Cutoffs are shown in Hz."
)


@dataclass
class Step:
    """One thing to do in Vital.

    ``action`` is "set" (a control to ``value`` ``unit``), "load" (a file, ``asset``),
    "connect" (a modulation ``source`` → ``destination`` with amount ``value``) or "order"
    (the effect chain). ``label`` names the control as Vital labels it; ``name`` and
    ``internal_value`` are the internal control name and exact value.

    The tutorial's tiers fill in: ``knob`` (the value as the knob shows it, when that differs
    from ``value``), ``tier`` ("build", "detail" or "silent"), ``impact_db`` (how much further
    from the full preset the sound is without the step, MSS-mel dB) and ``effect`` (that
    measurement in words).
    """

    order: int
    section: str
    action: Action
    name: str
    label: str
    value: str
    unit: str = ""
    internal_value: float | None = None
    why: str = ""
    audibility: float = 0.0
    asset: str | None = None
    source: str = ""
    destination: str = ""
    options: dict[str, str] = field(default_factory=dict)
    approx: str = ""
    knob: str = ""
    tier: str = ""
    impact_db: float | None = None
    effect: str = ""

    @property
    def display(self) -> str:
        """The displayed value with its unit, e.g. ``"2.4 kHz"``."""
        return str(disp.DisplayValue(self.value, self.unit))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "order": self.order,
            "section": self.section,
            "action": self.action,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "display": self.display,
            "name": self.name,
            "internal_value": self.internal_value,
            "audibility": round(self.audibility, 4),
        }
        if self.approx:
            d["approx"] = self.approx
        for key in ("knob", "tier", "effect"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        if self.impact_db is not None:
            d["impact_db"] = self.impact_db
        if self.why:
            d["why"] = self.why
        if self.asset:
            d["asset"] = self.asset
        if self.action == "connect":
            d["source"] = self.source
            d["destination"] = self.destination
            d["options"] = dict(self.options)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        iv = d.get("internal_value")
        return cls(
            order=int(d["order"]),
            section=str(d["section"]),
            action=d["action"],
            name=str(d.get("name", "")),
            label=str(d["label"]),
            value=str(d["value"]),
            unit=str(d.get("unit", "")),
            internal_value=None if iv is None else float(iv),
            why=str(d.get("why", "")),
            audibility=float(d.get("audibility", 0.0)),
            asset=d.get("asset"),
            source=str(d.get("source", "")),
            destination=str(d.get("destination", "")),
            options={str(k): str(v) for k, v in dict(d.get("options", {})).items()},
            approx=str(d.get("approx", "")),
            knob=str(d.get("knob", "")),
            tier=str(d.get("tier", "")),
            impact_db=None if d.get("impact_db") is None else float(d["impact_db"]),
            effect=str(d.get("effect", "")),
        )


@dataclass
class Asset:
    """A file a step loads: a wavetable, an LFO shape, a sample or a modulation remap curve.

    ``data`` holds the content in memory (JSON dict; for a sample, Vital's sample JSON); it is
    written to ``file`` by :meth:`Recipe.write_assets` and read back from there when absent.
    """

    file: str
    kind: AssetKind
    target: str
    name: str
    fingerprint: str
    data: Any = field(default=None, repr=False)

    def to_dict(self, *, embed: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file": self.file,
            "kind": self.kind,
            "target": self.target,
            "name": self.name,
            "fingerprint": self.fingerprint,
        }
        if embed and self.data is not None:
            d["data"] = copy.deepcopy(self.data)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Asset:
        return cls(
            file=str(d["file"]),
            kind=d["kind"],
            target=str(d["target"]),
            name=str(d.get("name", "")),
            fingerprint=str(d.get("fingerprint", "")),
            data=copy.deepcopy(d.get("data")),
        )


@dataclass
class Recipe:
    """The steps that rebuild a preset from Vital's init preset, plus description and ideas.

    ``idea`` is the tutorial's first tier (:class:`synthmatch.explain.idea.Idea` as a dict) and
    ``measured`` what the ablation renders found (:func:`synthmatch.explain.tiers.assign_tiers`).
    """

    title: str
    steps: list[Step]
    assets: dict[str, Asset] = field(default_factory=dict)
    description: SoundDescription | None = None
    variations: list[Variation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    idea: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None

    @property
    def sections(self) -> list[str]:
        """Section names in step order."""
        seen: list[str] = []
        for s in self.steps:
            if s.section not in seen:
                seen.append(s.section)
        return seen

    def tier(self, name: str) -> list[Step]:
        """The steps of tier ``name`` ("build", "detail", "silent"), in recipe order."""
        return [s for s in self.steps if s.tier == name]

    def steps_in(self, section: str) -> list[Step]:
        return [s for s in self.steps if s.section == section]

    def step_for(self, name: str) -> Step | None:
        """The step setting internal control ``name`` (None if the recipe leaves it at init)."""
        for s in self.steps:
            if s.name == name:
                return s
        return None

    def to_dict(self, *, embed_assets: bool = False) -> dict[str, Any]:
        """JSON-ready dict; with ``embed_assets`` the asset contents are included."""
        return {
            "format": RECIPE_FORMAT,
            "version": RECIPE_VERSION,
            "title": self.title,
            "start_from": "Vital's init preset (preset menu → Initialize Preset)",
            "precision": PRECISION_NOTE,
            "sections": self.sections,
            "steps": [s.to_dict() for s in self.steps],
            "assets": {k: a.to_dict(embed=embed_assets) for k, a in self.assets.items()},
            "description": self.description.to_dict() if self.description else None,
            "variations": [v.to_dict() for v in self.variations],
            "notes": list(self.notes),
            "idea": self.idea,
            "measured": self.measured,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        if d.get("format") != RECIPE_FORMAT:
            raise PresetError(
                f"not a synthmatch recipe (format {d.get('format')!r}). Hint: pass a recipe.json "
                "written by synthmatch explain."
            )
        if int(d.get("version", 0)) > RECIPE_VERSION:
            raise PresetError(
                f"recipe version {d.get('version')} is newer than {RECIPE_VERSION}; update synthmatch"
            )
        desc = d.get("description")
        return cls(
            title=str(d.get("title", "")),
            steps=[Step.from_dict(s) for s in d.get("steps", [])],
            assets={k: Asset.from_dict(a) for k, a in dict(d.get("assets", {})).items()},
            description=SoundDescription.from_dict(desc) if desc else None,
            variations=[Variation.from_dict(v) for v in d.get("variations", [])],
            notes=[str(n) for n in d.get("notes", [])],
            idea=d.get("idea"),
            measured=d.get("measured"),
        )

    def to_json(self, *, embed_assets: bool = False) -> str:
        return json.dumps(self.to_dict(embed_assets=embed_assets), indent=1, ensure_ascii=False)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Recipe:
        try:
            return cls.from_dict(json.loads(pathlib.Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise PresetError(f"recipe file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise PresetError(f"{path} is not a recipe: invalid JSON ({exc})") from None

    def write_assets(self, out_dir: str | os.PathLike[str]) -> dict[str, pathlib.Path]:
        """Write every asset with in-memory data into ``out_dir``; returns file name → path."""
        out = pathlib.Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, pathlib.Path] = {}
        for key, asset in self.assets.items():
            if asset.data is None:
                continue
            path = out / asset.file
            if asset.kind == "wavetable":
                write_vitaltable(asset.data, path)
            elif asset.kind == "sample":
                write_sample_wav(asset.data, path)
            else:
                _write_json(asset.data, path)
            paths[key] = path
        return paths


# ---------------------------------------------------------------------------------------
# assets
# ---------------------------------------------------------------------------------------
def _write_json(data: Any, path: pathlib.Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _sample_channels(sample: Mapping[str, Any]) -> np.ndarray:
    """Vital sample JSON → int16 [shape=(n, channels)]."""
    left = np.frombuffer(base64.b64decode(sample["samples"]), dtype="<i2")
    chans = [left]
    if sample.get("samples_stereo"):
        right = np.frombuffer(base64.b64decode(sample["samples_stereo"]), dtype="<i2")
        if right.shape == left.shape:
            chans.append(right)
    return np.stack(chans, axis=1)


def write_sample_wav(sample: Mapping[str, Any], path: str | os.PathLike[str]) -> pathlib.Path:
    """Write Vital's sample JSON as a 16-bit WAV (exact: Vital stores 16-bit PCM)."""
    import soundfile as sf

    p = pathlib.Path(path)
    pcm = _sample_channels(sample)
    tmp = p.with_name(p.stem + ".tmp.wav")
    sf.write(str(tmp), pcm, int(sample.get("sample_rate", 44100)), subtype="PCM_16")
    os.replace(tmp, p)
    return p


def read_sample_wav(path: str | os.PathLike[str], *, name: str | None = None) -> dict[str, Any]:
    """A WAV file → Vital's sample JSON (``samples`` = base64 16-bit PCM, left channel)."""
    import soundfile as sf

    p = pathlib.Path(path)
    if not p.exists():
        raise PresetError(f"sample file {p} does not exist")
    pcm, sr = sf.read(str(p), dtype="int16", always_2d=True)
    out: dict[str, Any] = {
        "name": name or p.stem,
        "length": int(pcm.shape[0]),
        "sample_rate": int(sr),
        "samples": base64.b64encode(np.ascontiguousarray(pcm[:, 0]).astype("<i2").tobytes()).decode("ascii"),
    }
    if pcm.shape[1] > 1:
        out["samples_stereo"] = base64.b64encode(
            np.ascontiguousarray(pcm[:, 1]).astype("<i2").tobytes()
        ).decode("ascii")
    return out
