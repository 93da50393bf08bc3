"""`match()`: turn a target sound into Vital presets that reproduce it.

:meth:`Matcher.match` is a pipeline of the stages in :mod:`synthmatch.search.stages`:
analyze → propose → rerank → choose starts → prune and refine → finalize, every stage under one
render budget and/or time limit (:class:`~synthmatch.search.config.MatchConfig`).

Ctrl-C (or a progress callback that raises ``KeyboardInterrupt``) stops the search and returns
the best found so far.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthmatch import __version__
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.render.probe import DEFAULT_PROBE, Probe
from synthmatch.search import resynth as _resynth  # noqa: F401  (registers the "analysis" source)
from synthmatch.search.config import DEFAULT_BUDGET, DEFAULT_CANDIDATES, MatchConfig
from synthmatch.search.library import Library, default_library_path
from synthmatch.search.moves import context_for
from synthmatch.search.proposals import LibrarySource, ProposalSource, make_source
from synthmatch.search.refine import Budget, BudgetExhausted, Objective, get_refiner
from synthmatch.search.scoring import FinalScore, PitchMemo, make_score
from synthmatch.search.stages import Candidate, choose_starts, finalize, propose, refine_starts, rerank
from synthmatch.search.target import analyze_target, probe_for, read_target, target_f0_of
from synthmatch.vital.spec import default_space

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CANDIDATES",
    "MATCH_REVISION",
    "REFINER_REVISION",
    "Candidate",
    "FinalScore",
    "MatchConfig",
    "MatchResult",
    "Matcher",
    "make_score",
    "match",
    "probe_for",
    "read_target",
    "target_f0_of",
]

#: Revision of the match pipeline's behaviour: the benchmark reuses logged ``match`` attempts only
#: when it is unchanged. Bump it with any change that moves results (history: CHANGELOG.md).
MATCH_REVISION = 10
#: Revision of what the refiner alone does from a given start (its settings, the search
#: dimensions, the objective, the target's analysis): the key of the search-from-init baselines'
#: logged attempts. Bump both with a change to the refiner.
REFINER_REVISION = 8

#: Settings that belong to a matcher's set-up (its library and pool), not to one match.
_SETUP_FIELDS = ("workers", "library")


@dataclass
class MatchResult:
    """What a match found.

    Attributes
    ----------
    target : np.ndarray [shape=(n,)]
        The target's mono samples, fitted to the probe's length.
    sample_rate : int
    probe : Probe
        The note, velocity and note length every candidate was rendered with.
    analysis : dict
        What the analysis measured (:meth:`~synthmatch.search.target.Target.record`).
    candidates : list[Candidate]
        Distinct candidates, best (lowest :attr:`Candidate.score`) first.
    renders : int
    timings : dict[str, float]
        Seconds per stage and in total.
    settings : dict
        The :class:`MatchConfig`, the pipeline's revision and the library's size.
    interrupted : bool
        The search was stopped early (Ctrl-C); the candidates are the best found by then.
    """

    target: np.ndarray
    sample_rate: int
    probe: Probe
    analysis: dict[str, Any]
    candidates: list[Candidate]
    renders: int
    timings: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    @property
    def rendered(self) -> bool:
        """The candidates were rendered and scored (False for a match with ``budget=0``)."""
        return all(c.audio.size for c in self.candidates)

    def to_dict(self) -> dict[str, Any]:
        from synthmatch.render.engine import engine_version

        return {
            "probe": self.probe.to_dict(),
            "analysis": self.analysis,
            "candidates": [
                {
                    "origin": str(c.origin),
                    "found": c.origin.to_dict(),
                    "score": c.score if c.metrics else None,
                    "metrics": c.metrics,
                    "name": c.preset.meta.get("preset_name"),
                }
                for c in self.candidates
            ],
            "renders": self.renders,
            "timings_s": self.timings,
            "settings": self.settings,
            "interrupted": self.interrupted,
            "versions": {
                "synthmatch": __version__,
                "vita": engine_version(),
                "spec_hash": default_space().spec_hash,
            },
        }


def _no_candidate_message(objective: Objective) -> str:
    """Why a match ended without a single scored render, and what to do about it."""
    if not objective.failures:
        return "no candidate could be rendered within the budget. Hint: raise --budget or --seconds."
    why = f"all {objective.failures} renders failed; the last said {objective.last_failure!r}."
    if "BrokenProcessPool" in objective.last_failure or "worker failed" in objective.last_failure:
        return (
            f"{why} The render workers did not start or died. They are spawned processes that import "
            "the main module again. Hint: run Python code from a file whose entry point sits under "
            "`if __name__ == '__main__':` (not from standard input), and check memory limits."
        )
    return f"{why} Hint: check the library and the engine with `synthmatch render PRESET.vital`."


class Matcher:
    """A library, a render pool and default settings; ``match()`` many targets with one set-up.

    Parameters
    ----------
    config : MatchConfig, optional
        Default settings of every match (default: ``MatchConfig()``).
    library : Library or path, optional
        The retrieval library, loaded or as a folder (default: ``config.library``, else the
        bundled library).
    pool : RenderPool, optional
        Render on this pool (default: a pool of ``config.workers`` that :meth:`close` shuts).
    **overrides
        Settings that replace the config's (``workers=2``, ``refiner="none"``, …).
    """

    def __init__(
        self,
        config: MatchConfig | None = None,
        *,
        library: Library | str | None = None,
        pool: RenderPool | None = None,
        **overrides: Any,
    ) -> None:
        self.config = (config or MatchConfig()).replace(**overrides)
        self._library_arg = library if library is not None else self.config.library
        self._own_pool = pool is None
        self._pool = pool
        self._sources: dict[str, ProposalSource] = {}

    @functools.cached_property
    def library(self) -> Library:
        """The retrieval library, loaded on first use (a match from the estimator alone with no
        render needs neither it nor the render pool)."""
        library = self._library_arg
        if library is None or isinstance(library, (str, bytes)) or hasattr(library, "__fspath__"):
            library = Library.load(library or default_library_path())
        return library

    @functools.cached_property
    def embedding(self) -> Any:
        """The library's embedding of audio."""
        from synthmatch.audio.features import get_embedding

        emb_cfg = self.library.provenance["embedding"]
        return get_embedding(emb_cfg["name"], **emb_cfg.get("config", {}))

    @property
    def pool(self) -> RenderPool:
        """The render pool (made on first use when the matcher makes its own)."""
        if self._pool is None:
            self._pool = RenderPool(workers=self.config.workers)
        return self._pool

    def close(self) -> None:
        if self._own_pool and self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def source(self, name: str) -> ProposalSource:
        """The proposal source registered as ``name``, made once per matcher."""
        if name not in self._sources:
            self._sources[name] = make_source(name, self)
        return self._sources[name]

    def nearest(self, target: np.ndarray, sample_rate: int, k: int) -> list[tuple[int, float]]:
        """Library k-NN without rendering: [(library index, embedding distance)], nearest first."""
        library = self.source("library")
        assert isinstance(library, LibrarySource)
        return library.nearest(target, sample_rate, k)

    def settings_for(self, config: MatchConfig | None = None, **overrides: Any) -> MatchConfig:
        """The settings of one match: ``config`` (default: the matcher's) with ``overrides``.

        Raises ``ValueError`` for a setting out of range, or for another ``workers`` or
        ``library`` than the matcher's (they belong to its set-up: make another Matcher)."""
        cfg = (config or self.config).replace(**overrides)
        for name in _SETUP_FIELDS:
            if getattr(cfg, name) != getattr(self.config, name):
                raise ValueError(
                    f"{name}={getattr(cfg, name)!r} differs from this matcher's "
                    f"{getattr(self.config, name)!r}: it is fixed when the Matcher is made. "
                    "Hint: make another Matcher with it."
                )
        return cfg

    def match(
        self,
        audio: Any,
        config: MatchConfig | None = None,
        *,
        progress: Any = None,
        **overrides: Any,
    ) -> MatchResult:
        """Match a target (a path, or ``(samples, sample_rate)``).

        ``config`` (default: the matcher's) with ``overrides`` (:class:`MatchConfig` fields, e.g.
        ``budget=64``) sets the match; ``progress(renders_done, renders_total)`` is called after
        every batch of renders and may raise ``KeyboardInterrupt`` to stop early. Raises
        ``ValueError`` for settings out of range before any work starts, and
        :class:`~synthmatch.errors.SynthmatchError` when nothing could be rendered."""
        cfg = self.settings_for(config, **overrides)
        refiner = get_refiner(cfg.refiner, **cfg.refiner_options)
        sources = [self.source(name) for name in cfg.sources]
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        sr = self._sample_rate(cfg)
        target = analyze_target(audio, sample_rate=sr, note=cfg.note, max_seconds=cfg.max_seconds_audio)
        timings["analyze"] = time.monotonic() - t0

        t1 = time.monotonic()
        proposals = propose(target, sources, max(cfg.rerank, cfg.candidates))
        timings["propose"] = time.monotonic() - t1
        if cfg.budget == 0:
            return self._unrendered(target, proposals, cfg, timings, t0)

        budget = Budget(max_renders=cfg.budget, max_seconds=cfg.seconds)
        f0_of = PitchMemo(sr)
        objective = Objective(
            score=make_score(target.samples, target.probe, target_f0=target.f0, f0_of=f0_of),
            pool=self.pool,
            probe=target.probe,
            progress=progress,
            total=cfg.budget if cfg.budget is not None else 0,
            score_in_workers=cfg.score_in_workers,
        )
        interrupted = False
        try:
            t2 = time.monotonic()
            evals = rerank(proposals, target, objective, budget, cfg, f0_of=f0_of)
            timings["rerank"] = time.monotonic() - t2
            t3 = time.monotonic()
            starts = choose_starts(evals, target, cfg, f0_of=f0_of)
            moves = context_for(target) if cfg.moves else None
            refine_starts(starts, objective, budget, cfg, refiner, moves=moves)
            timings["refine"] = time.monotonic() - t3
        except BudgetExhausted:
            pass
        except KeyboardInterrupt:
            interrupted = True
        if objective.best() is None:
            raise SynthmatchError(_no_candidate_message(objective))

        t4 = time.monotonic()
        candidates, final_renders = finalize(objective, target, cfg, self.pool)
        timings["finalize"] = time.monotonic() - t4
        timings["total"] = time.monotonic() - t0
        return MatchResult(
            target=target.samples,
            sample_rate=sr,
            probe=target.probe,
            analysis=target.record(),
            candidates=candidates,
            renders=objective.renders + final_renders,
            timings=timings,
            settings={**cfg.to_dict(), "revision": MATCH_REVISION, "library_size": len(self.library)},
            interrupted=interrupted,
        )

    def _sample_rate(self, config: MatchConfig) -> int:
        """The rate targets are analysed and rendered at: the library's probe's, when a source or
        a render needs the library; else the default probe's (the same 44.1 kHz)."""
        if "library" in config.sources or config.budget != 0 or "library" in self.__dict__:
            return self.library.probe.sample_rate
        return DEFAULT_PROBE.sample_rate

    def _unrendered(
        self,
        target: Any,
        proposals: list[Any],
        cfg: MatchConfig,
        timings: dict[str, float],
        t0: float,
    ) -> MatchResult:
        """A match with no render (``budget=0``): the sources' first distinct proposals as they
        come, in the order of ``cfg.sources``, unscored (:attr:`MatchResult.rendered` is False)."""
        if not proposals:
            raise SynthmatchError(f"the sources {list(cfg.sources)} proposed nothing for this target")
        seen: set[Any] = set()
        candidates = []
        for p in proposals:
            if p.origin.lineage in seen:
                continue
            seen.add(p.origin.lineage)
            p.preset.meta["preset_name"] = "synthmatch match"
            candidates.append(Candidate(p.preset, np.zeros(0, np.float32), {}, p.origin))
            if len(candidates) == cfg.candidates:
                break
        timings["total"] = time.monotonic() - t0
        settings = {**cfg.to_dict(), "revision": MATCH_REVISION}
        if "library" in self.__dict__:
            settings["library_size"] = len(self.library)
        return MatchResult(
            target=target.samples,
            sample_rate=target.sample_rate,
            probe=target.probe,
            analysis=target.record(),
            candidates=candidates,
            renders=0,
            timings=timings,
            settings=settings,
        )


def match(
    audio: Any, config: MatchConfig | None = None, *, progress: Any = None, **overrides: Any
) -> MatchResult:
    """Match one target: ``Matcher(config).match(audio)`` with a matcher made for it.

    Parameters
    ----------
    audio : path or (np.ndarray, int)
        An audio file (WAV, FLAC, OGG, MP3, AIFF), or mono/stereo samples and their sample rate.
    config : MatchConfig, optional
        The settings (default: ``MatchConfig()``: 128 renders, 3 candidates, the bundled library).
    progress : callable, optional
        ``progress(renders_done, renders_total)``; raise ``KeyboardInterrupt`` in it to stop early.
    **overrides
        :class:`MatchConfig` fields that replace the config's, e.g. ``budget=64``.

    The render workers are spawned processes that import the main module again: call this from
    a script under ``if __name__ == "__main__":``.
    """
    cfg = (config or MatchConfig()).replace(**overrides)
    with Matcher(cfg) as m:
        return m.match(audio, progress=progress)
