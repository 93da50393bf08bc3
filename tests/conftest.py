"""Shared fixtures: the parameter space, small presets and a short probe for fast renders."""

from __future__ import annotations

import pathlib

import pytest

from synthmatch.render.probe import Probe

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared"

#: A short probe keeps engine renders to tens of milliseconds in tests.
SHORT_PROBE = Probe(note=60, velocity=0.8, note_seconds=0.25, render_seconds=0.5)
#: ``build_dataset`` settings of the tiny datasets the estimator and library tests build: fast LHS
#: presets (no wavetables from the bank) played at range probes of the short probe's length.
TINY_RANGE_BUILD = {
    "sampler": "lhs",
    "sampler_config": {"p_train_table": 0.0, "block_size": 64},
    "probe": SHORT_PROBE,
    "probe_sampler": "range",
}


@pytest.fixture(scope="session")
def space():
    from synthmatch.vital.spec import default_space

    return default_space()


@pytest.fixture()
def init_preset():
    from synthmatch.vital.preset import Preset

    return Preset.init()


@pytest.fixture(scope="session")
def short_probe() -> Probe:
    return SHORT_PROBE


@pytest.fixture(scope="session")
def render_pool():
    from synthmatch.render.pool import RenderPool

    with RenderPool(workers=2, timeout_s=60) as pool:
        yield pool


def train_preset_files(n: int) -> list[pathlib.Path]:
    """The first ``n`` shared training presets (CI has ../shared); tests using them skip if absent."""
    files = sorted((SHARED / "presets" / "train").rglob("*.vital"))
    if not files:
        pytest.skip("the shared presets folder ../shared/presets/train is not present")
    return files[:n]
