"""The benchmark suites: each builds the :class:`Item` targets of one kind of sound.

Suites register by name (:func:`register_suite`); ``bench run --suites`` takes its choices from
:data:`SUITES`. A builder reads what it needs from the run's
:class:`~synthmatch.bench.run.BenchConfig` and returns the suite's label in reports and logs with
its items.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from synthmatch.bench.truth import release_audibility, waveform_multiples
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.search.build import RESERVED_EVAL_SEEDS
from synthmatch.vital.preset import Preset

if TYPE_CHECKING:
    from synthmatch.bench.run import BenchConfig

#: Seeds reserved for generated suites (libraries and training data refuse them).
ID_RAND_SEED = 20261122
STRESS_SEED = 20261123
assert {ID_RAND_SEED, STRESS_SEED} <= RESERVED_EVAL_SEEDS


@dataclass
class Item:
    """One benchmark target. ``preset``/``probe`` are the ground truth when known (in-domain)."""

    name: str
    audio: np.ndarray  # mono [n] at the benchmark sample rate
    sample_rate: int
    probe: Probe | None = None
    preset: Preset | None = None
    release_audible: bool | None = None  # see release_audibility()
    waveform_multiples: dict[int, int] | None = None  # see waveform_multiples()


def _render_items(
    names: list[str], presets: list[Preset], probes: list[Probe], pool: RenderPool
) -> list[Item]:
    items = []
    for name, p, pr, out in zip(names, presets, probes, pool.render(presets, probes)):
        if out.ok and np.max(np.abs(out.mono)) > 1e-4:
            items.append(Item(name, out.mono, pr.sample_rate, pr, p))
    for it, audible in zip(items, release_audibility(items, pool)):
        it.release_audible = audible
    for it, multiples in zip(items, waveform_multiples(items, pool)):
        it.waveform_multiples = multiples
    return items


#: The sampler of the id-rand suite.
RAND_SAMPLER = "mix"


def suite_id_rand(n: int, pool: RenderPool, *, seed: int = ID_RAND_SEED) -> list[Item]:
    """Presets of the project's sampler with a reserved seed; 60% at note 60, the rest at notes 36–84."""
    from synthmatch.data.samplers import make_sampler

    sampler = make_sampler(RAND_SAMPLER)
    presets = [sampler.sample(seed=seed, index=i) for i in range(n)]
    probes = [rand_probe(seed, i) for i in range(n)]
    return _render_items([f"id-rand-{i:04d}" for i in range(n)], presets, probes, pool)


def rand_probe(seed: int, index: int) -> Probe:
    """The probe of id-rand item ``index``: 60% at note 60, the rest at notes 36–84; the key held
    0.3–2.5 s, velocity 0.5–1, 4-second renders."""
    rng = np.random.default_rng([seed, index, 7])
    note = 60 if rng.random() < 0.6 else int(rng.integers(36, 85))
    note_s = float(rng.uniform(0.3, 2.5))
    return Probe(note=note, velocity=float(rng.uniform(0.5, 1.0)), note_seconds=note_s, render_seconds=4.0)


def rand_suite_label(seed: int) -> str:
    """The id-rand suite's name in reports and logs: ``id-rand`` for the evaluation seed, else
    ``id-rand-dev<seed>`` (a development seed, for tuning; its figures are not benchmark results)."""
    return "id-rand" if seed == ID_RAND_SEED else f"id-rand-dev{seed}"


def suite_id_hand(folder: str | os.PathLike[str], pool: RenderPool, *, n: int | None = None) -> list[Item]:
    """The hand-made presets of a folder (the public test split) rendered at the default probe."""
    files = sorted(pathlib.Path(folder).rglob("*.vital"))[:n]
    presets = [Preset.from_file(f) for f in files]
    return _render_items([f.stem for f in files], presets, [DEFAULT_PROBE] * len(files), pool)


def suite_ood(
    folder: str | os.PathLike[str], *, sample_rate: int = 44100, n: int | None = None
) -> list[Item]:
    """Any folder of audio files (``notes.json`` next to them may give each file's ground-truth
    ``midi_note``, and its ``velocity`` (MIDI) and ``note_seconds`` when known); ``n`` of them
    (None: all) spread evenly over their sorted list (:func:`spread`)."""
    from synthmatch.audio.io import load_audio

    root = pathlib.Path(folder)
    notes = json.loads((root / "notes.json").read_text()) if (root / "notes.json").exists() else {}
    audio_suffixes = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
    files = [f for f in sorted(root.iterdir()) if f.suffix.lower() in audio_suffixes]
    items = []
    for f in (files[i] for i in spread(len(files), n)):
        loaded = load_audio(f, sample_rate=sample_rate)
        known = notes.get(f.name, {})
        truth = known.get("midi_note")
        probe = None
        if truth is not None:
            probe = Probe(
                note=int(truth),
                velocity=known["velocity"] / 127 if "velocity" in known else DEFAULT_PROBE.velocity,
                note_seconds=float(known.get("note_seconds", 1.0)),
                render_seconds=4.0,
            )
        items.append(Item(f.stem, loaded.samples, sample_rate, probe, None))
    return items


def spread(count: int, n: int | None) -> list[int]:
    """``n`` indices spread evenly over ``range(count)``: ``round(i * count / n)`` for ``i`` in
    ``range(n)`` (all of them when ``n`` is None or at least ``count``). A suite whose files sort
    by instrument (ood-real's: by General MIDI program) then keeps as many instruments as ``n``
    allows."""
    if n is None or n >= count:
        return list(range(count))
    return [round(i * count / n) for i in range(n)]


def suite_stress(n: int, pool: RenderPool, *, seed: int = STRESS_SEED) -> list[Item]:
    """Effects-heavy, modulation-heavy, very short and very long notes, extreme pitches."""
    from synthmatch.data.samplers import make_sampler
    from synthmatch.vital.effects import EFFECTS

    sampler = make_sampler("lhs", {"mean_modulations": 5.0, "max_modulations": 10})
    presets, probes = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        p = sampler.sample(seed=seed, index=i)
        kind = i % 4
        if kind == 0:  # effects-heavy
            for fx in EFFECTS:
                p.values[f"{fx}_on"] = 1.0
        note = int(rng.choice([24, 28, 96, 100])) if kind == 3 else int(rng.integers(36, 85))
        note_s = (
            float(rng.uniform(0.05, 0.29))
            if kind == 1
            else float(rng.uniform(3.0, 3.9))
            if kind == 2
            else 1.0
        )
        presets.append(p)
        probes.append(Probe(note=note, note_seconds=note_s, render_seconds=4.0))
    return _render_items([f"stress-{i:03d}" for i in range(n)], presets, probes, pool)


# ---------------------------------------------------------------------------------------
# The registry.
# ---------------------------------------------------------------------------------------
#: ``build(config, pool) -> (label, items)``: the label names the suite in reports and logs.
SuiteBuilder = Callable[["BenchConfig", RenderPool], tuple[str, list[Item]]]


@dataclass(frozen=True)
class SuiteSpec:
    """A registered suite: its name on the command line, its builder and a line of help."""

    name: str
    build: SuiteBuilder
    description: str


#: The suites by name, in registration order.
SUITES: dict[str, SuiteSpec] = {}


def register_suite(name: str, *, description: str) -> Callable[[SuiteBuilder], SuiteBuilder]:
    """Decorator adding ``build(config, pool) -> (label, items)`` to :data:`SUITES` as ``name``."""

    def deco(build: SuiteBuilder) -> SuiteBuilder:
        if name in SUITES and SUITES[name].build is not build:
            raise ValueError(f"suite {name!r} is already registered by {SUITES[name].build.__qualname__}")
        SUITES[name] = SuiteSpec(name, build, description)
        return build

    return deco


def suite_names() -> list[str]:
    """The registered suites, in registration order."""
    return list(SUITES)


@register_suite(
    "id-rand", description="presets of the project's sampler, sized by --n-rand, seeded by --rand-seed"
)
def _build_id_rand(config: BenchConfig, pool: RenderPool) -> tuple[str, list[Item]]:
    seed = ID_RAND_SEED if config.rand_seed is None else config.rand_seed
    return rand_suite_label(seed), suite_id_rand(config.n_rand, pool, seed=seed)


@register_suite("id-hand", description="hand-made presets from --hand-dir, by default the shared test split")
def _build_id_hand(config: BenchConfig, pool: RenderPool) -> tuple[str, list[Item]]:
    from synthmatch.data_paths import shared_dir

    folder = config.hand_dir or shared_dir() / "presets" / "test"
    return "id-hand", suite_id_hand(folder, pool, n=config.n_hand)


#: The error of an ood suite without its folder.
OOD_NEEDS_A_FOLDER = "the ood suite needs --ood-dir (a folder of audio files)"


@register_suite("ood", description="audio files from --ood-dir, --n-ood of them spread over the folder")
def _build_ood(config: BenchConfig, pool: RenderPool) -> tuple[str, list[Item]]:
    if not config.ood_dir:
        raise SynthmatchError(OOD_NEEDS_A_FOLDER)
    return "ood", suite_ood(config.ood_dir, n=config.n_ood)


@register_suite(
    "stress", description="effects- and modulation-heavy presets at extreme notes, sized by --n-stress"
)
def _build_stress(config: BenchConfig, pool: RenderPool) -> tuple[str, list[Item]]:
    return "stress", suite_stress(config.n_stress, pool)
