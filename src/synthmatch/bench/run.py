"""The benchmark run (``bench run``): a :class:`BenchConfig` in, ``report.md``, ``report.json``,
``scores_<suite>.json``, the attempt logs and spectrogram PNGs out."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthmatch import __version__
from synthmatch.bench.log import AttemptLog, analysis_inputs, settings_key
from synthmatch.bench.machine import ENGINE_SPEED_PRESETS, engine_speed, machine_info
from synthmatch.bench.methods import METHODS, Attempt, MethodFn, canonical_methods, make_methods
from synthmatch.bench.params import parameter_rows, summarize_parameters
from synthmatch.bench.report import format_markdown, spectrogram_figures
from synthmatch.bench.stats import SuiteResult, summarize
from synthmatch.bench.suites import ID_RAND_SEED, OOD_NEEDS_A_FOLDER, SUITES, Item
from synthmatch.bench.truth import pitch_truth
from synthmatch.errors import SynthmatchError
from synthmatch.render.pool import RenderPool
from synthmatch.search.match import DEFAULT_BUDGET

_PATH_FIELDS = ("hand_dir", "ood_dir", "external_dir", "library", "estimator", "train_library")


@dataclass(frozen=True)
class BenchConfig:
    """What a benchmark run does: which suites, which methods, and how.

    Parameters
    ----------
    suites, methods : tuple of str
        Registered names (:data:`~synthmatch.bench.suites.SUITES`,
        :data:`~synthmatch.bench.methods.METHODS`; older method names are replaced by the current
        ones).
    budget : int
        Render budget of one match (and of ``search-from-init``; the 20x lines multiply it).
    n_rand, rand_seed : int
        Items and sampler seed of the id-rand suite (None: the reserved evaluation seed; any other
        is a development suite, see :func:`~synthmatch.bench.suites.rand_suite_label`).
    n_stress : int
        Items of the stress suite.
    n_hand, hand_dir : int, str
        The first ``n_hand`` presets (None: all) of the id-hand folder (None: the shared test split).
    ood_dir : str
        Folder of audio files of the ood suite.
    n_ood : int
        Limit the ood suite to this many of its files (None: all), spread evenly over their sorted
        list (:func:`~synthmatch.bench.suites.spread`).
    external_dir : str
        Folder of ``<item>.vital`` presets of the ``external`` method.
    library : str
        Library folder of the matcher (None: the bundled library).
    estimator : str
        Trained estimator folder of the estimator methods (None: the one shipped in the package).
    train_library : str
        Library built from the estimator's training set, for ``knn-train``.
    workers : int
        Render workers (None: the usable cores; on Ray, the cluster's CPUs).
    parallel_items : int
        Items matched concurrently.
    shard : (int, int)
        ``(k, n)``: only the items whose index in each suite is ``k`` modulo ``n``. Shards run on
        separate processes or machines; their ``attempts_*.jsonl`` files, put together in one
        folder, make the whole run's log.
    ray_address : str
        Render (and score) on Ray: ``"local"`` starts an instance here with ``workers`` CPUs,
        anything else joins a cluster. ``workers`` then sets how many renders each search keeps in
        flight, which shapes CMA-ES's population, so pass the same ``workers`` as a local run to
        repeat its results.
    engine_speed_presets : int
        Time the engine on that many bundled-library presets before the suites and after each
        (:func:`~synthmatch.bench.machine.engine_speed`; 0: not timed), so a report's seconds per
        match can be read against how fast the machine was at the time.
    """

    suites: tuple[str, ...] = ("id-hand", "id-rand")
    methods: tuple[str, ...] = ("match", "init", "random", "knn", "search-from-init")
    budget: int = DEFAULT_BUDGET
    n_rand: int = 200
    rand_seed: int | None = None
    n_stress: int = 40
    n_hand: int | None = None
    hand_dir: str | None = None
    ood_dir: str | None = None
    n_ood: int | None = None
    external_dir: str | None = None
    library: str | None = None
    estimator: str | None = None
    train_library: str | None = None
    workers: int | None = None
    parallel_items: int = 1
    shard: tuple[int, int] | None = None
    ray_address: str | None = None
    engine_speed_presets: int = ENGINE_SPEED_PRESETS

    def __post_init__(self) -> None:
        for name in ("suites", "methods"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise SynthmatchError(f"{name}={value!r} must be a list of names, e.g. [{value!r}]")
        object.__setattr__(self, "suites", tuple(self.suites))
        object.__setattr__(self, "methods", tuple(canonical_methods(list(self.methods))))
        for name in _PATH_FIELDS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if not self.suites or not self.methods:
            raise SynthmatchError(
                f"a benchmark needs suites and methods (got suites={list(self.suites)}, "
                f"methods={list(self.methods)}); choose from {', '.join(SUITES)} and {', '.join(METHODS)}"
            )
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown:
            raise SynthmatchError(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise SynthmatchError(f"unknown methods {sorted(unknown)}; choose from {sorted(METHODS)}")
        if "ood" in self.suites and not self.ood_dir:
            raise SynthmatchError(OOD_NEEDS_A_FOLDER)
        for name in ("budget", "n_rand", "n_stress", "n_hand", "n_ood", "workers", "parallel_items"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SynthmatchError(f"{name}={value} must be at least 1")
        if self.engine_speed_presets < 0:
            raise SynthmatchError(
                f"engine_speed_presets={self.engine_speed_presets} must be at least 0 (0: not timed)"
            )
        if self.shard is not None:
            k, n = self.shard
            object.__setattr__(self, "shard", (k, n))
            if not (n >= 1 and 0 <= k < n):
                raise SynthmatchError(f"shard {k}/{n} is not K/N with 0 <= K < N")

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values (tuples as lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchConfig:
        """The config of :meth:`to_dict` (missing fields take their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SynthmatchError(f"unknown benchmark settings {unknown}; known: {sorted(names)}")
        return cls(**data)


def run_benchmark(
    config: BenchConfig,
    *,
    out: str | os.PathLike[str],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the protocol; write ``report.md``, ``report.json``, ``scores_<suite>.json`` and
    spectrogram PNGs into ``out``, and log each finished attempt there (re-running the same config
    into the same folder resumes). ``progress(done, total)`` is called as the attempts of each
    suite finish."""
    from synthmatch.render.engine import engine_version
    from synthmatch.search.match import Matcher
    from synthmatch.search.scoring import fit_length

    rand_seed = ID_RAND_SEED if config.rand_seed is None else config.rand_seed
    methods = list(config.methods)
    shard = config.shard
    outp = pathlib.Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    meta_machine = machine_info()  # this process's machine (on Ray, renders run elsewhere too)
    # the engine's speed now, then after each suite (0 presets: not measured)
    n_speed = config.engine_speed_presets
    speeds = [engine_speed(n_speed)] if n_speed else []
    summaries = []
    with contextlib.ExitStack() as stack:
        ray_pool = None
        if config.ray_address:
            from synthmatch.data.ray_backend import RayExecutor

            rex = RayExecutor(
                config.ray_address, num_cpus=config.workers if config.ray_address == "local" else None
            )
            stack.callback(rex.shutdown)
            ray_pool = RenderPool(executor=rex, workers=config.workers or rex.cpus)
        matcher = stack.enter_context(
            Matcher(library=config.library, workers=config.workers, pool=ray_pool, estimator=config.estimator)
        )
        pool = matcher.pool
        fns = make_methods(
            methods,
            matcher=matcher,
            budget=config.budget,
            external_dir=config.external_dir,
            train_library=config.train_library,
        )

        def key_of(method: str, *, legacy: bool = False) -> str:
            return settings_key(
                method,
                budget=config.budget,
                matcher=matcher,
                external_dir=config.external_dir,
                train_library=config.train_library,
                legacy=legacy,
            )

        for name in config.suites:
            suite, items = SUITES[name].build(config, pool)
            if shard is not None:
                items = items[shard[0] :: shard[1]]
            res = run_suite(
                suite,
                items,
                fns,
                pool,
                parallel_items=config.parallel_items,
                progress=progress,
                log_dir=outp,
                key_of=key_of,
                legacy_key_of=functools.partial(key_of, legacy=True),
            )
            # parameter metrics where the item's preset is known (no render: the presets alone)
            truths = [it.preset for it in items]
            params = (
                {m: parameter_rows([a.preset for a in atts], truths) for m, atts in res.attempts.items()}
                if any(t is not None for t in truths)
                else {}
            )
            summaries.append({**summarize(res), "parameters": summarize_parameters(params)})
            # spectrograms for the first items: re-render what each method returned
            audio: dict[str, list[np.ndarray | None]] = {}
            for meth, atts in res.attempts.items():
                first = [a for a in atts[:3] if a.preset is not None]
                if len(first) < len(atts[:3]):
                    continue
                outs = pool.render([a.preset for a in first], [a.probe for a in first])
                audio[meth] = [
                    fit_length(o.mono, len(it.audio)) if o.ok else None for o, it in zip(outs, items[:3])
                ]
            spectrogram_figures(res, items, audio, outp)
            if n_speed:
                speeds.append(engine_speed(n_speed))
            (outp / f"scores_{suite}.json").write_text(
                json.dumps(
                    {
                        "suite": suite,
                        "shard": list(shard) if shard else None,
                        # what decided each method's results: merge_scores refuses to mix settings
                        "keys": {m: key_of(m) for m in res.scores},
                        "items": res.items,
                        "scores": res.scores,
                        "cost": res.cost,
                        "analysis": res.analysis,
                        # per method, per item: bench.params.parameter_metrics against the truth
                        "params": params,
                        # where its seconds per match were measured (compare them on one CPU only)
                        "machine": meta_machine,
                        # the engine's speed before and after this suite (machine.engine_speed)
                        "engine_speed": speeds[-2:],
                    },
                    default=str,
                )
            )
    meta = {
        "command_settings": {
            "suites": list(config.suites),
            "methods": methods,
            "budget": config.budget,
            "n_rand": config.n_rand,
            "rand_seed": rand_seed,
            "n_stress": config.n_stress,
            "n_hand": config.n_hand,
            "n_ood": config.n_ood,
            "shard": list(shard) if shard else None,
            "ray_address": config.ray_address,
        },
        "machine": meta_machine,
        "engine_speed": speeds,
        "versions": {"synthmatch": __version__, "vita": engine_version()},
        "wall_seconds": time.monotonic() - t0,
    }
    report = {"meta": meta, "suites": summaries}
    (outp / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (outp / "report.md").write_text(format_markdown(summaries, meta))
    return report


def score_attempts(items: list[Item], attempts: list[Attempt], pool: RenderPool) -> list[dict[str, float]]:
    """Every metric of each attempt against its item, rendered at the probe the method chose
    (``{}`` where a method gave no preset or its render failed)."""
    from synthmatch.metrics import compute_metrics
    from synthmatch.search.scoring import fit_length

    rows: list[dict[str, float]] = [{} for _ in items]
    todo = [(k, a) for k, a in enumerate(attempts) if a.preset is not None]
    outs = pool.render([a.preset for _, a in todo], [a.probe for _, a in todo])
    for (k, a), out in zip(todo, outs):
        if out.ok:
            n = max(len(items[k].audio), a.probe.n_samples)
            rows[k] = compute_metrics(
                fit_length(items[k].audio, n), fit_length(out.mono, n), items[k].sample_rate
            )
    return rows


def _analysis_record(it: Item, a: Attempt) -> dict[str, Any]:
    """What the analysis found on one item against its truth (the played note for audio-only items)."""
    if it.preset is not None and it.probe is not None:
        truth, reason = pitch_truth(it.preset, it.probe.note, it.waveform_multiples)
        true_s: float | None = it.probe.note_seconds
    else:
        truth, reason, true_s = (it.probe.note if it.probe else None), None, None
    return {
        "item": it.name,
        "played_note": it.probe.note if it.probe else None,
        "true_note": truth,
        "pitch_truth": reason,
        "detected_note": a.detected_note,
        "true_note_s": true_s,
        "release_audible": it.release_audible,
        "detected_note_s": a.release_s,
    }


def run_suite(
    suite: str,
    items: list[Item],
    methods: dict[str, MethodFn],
    pool: RenderPool,
    *,
    parallel_items: int = 1,
    progress: Callable[[int, int], None] | None = None,
    log_dir: pathlib.Path | None = None,
    key_of: Callable[[str], str] | None = None,
    legacy_key_of: Callable[[str], str] | None = None,
) -> SuiteResult:
    """Run every method on every item and score the results.

    With ``log_dir``, finished attempts are appended to ``attempts_<suite>_<method>.jsonl`` there
    and reused by a later run with the same settings (``key_of(method)``, see
    :func:`~synthmatch.bench.log.settings_key`) and the same analysis of the item
    (:func:`~synthmatch.bench.log.analysis_inputs`): a killed run resumes where it stopped.
    ``legacy_key_of(method)`` is the key of lines written before they carried their inputs
    (:class:`~synthmatch.bench.log.AttemptLog`).
    """
    res = SuiteResult(suite, [it.name for it in items])
    total = len(items) * len(methods)
    done = 0
    inputs_of = functools.lru_cache(maxsize=None)(lambda k: analysis_inputs(items[k]))
    for name, fn in methods.items():
        log = (
            AttemptLog(
                log_dir,
                suite,
                name,
                (key_of or str)(name),
                legacy_key=legacy_key_of(name) if legacy_key_of else None,
            )
            if log_dir
            else None
        )
        results: dict[str, Attempt] = {}
        if log is not None:
            for k, it in enumerate(items):
                if it.name in log.rows and (a := log.reuse(it.name, inputs_of(k))) is not None:
                    results[it.name] = a
        todo = [(k, it) for k, it in enumerate(items) if it.name not in results]
        done += len(items) - len(todo)
        if progress and len(todo) < len(items):
            progress(done, total)
        with ThreadPoolExecutor(max(1, parallel_items)) as ex:
            for (k, it), a in zip(todo, ex.map(fn, [it for _, it in todo])):
                results[it.name] = a
                if log is not None:
                    log.add(it.name, a, inputs_of(k))
                done += 1
                if progress:
                    progress(done, total)
        attempts = [results[it.name] for it in items]
        res.attempts[name] = attempts
        res.scores[name] = score_attempts(items, attempts, pool)
        res.cost[name] = [(a.renders, a.seconds) for a in attempts]
        if name == "match" or not res.analysis:
            res.analysis = [_analysis_record(it, a) for it, a in zip(items, attempts)]
    return res
