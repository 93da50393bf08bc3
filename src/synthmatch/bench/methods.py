"""The benchmark methods: each turns a target into a preset and the probe it chose, from the audio
alone.

Methods register by name (:func:`register_method`); ``bench run --methods`` takes its choices from
:data:`METHODS`. A registration names a factory ``build(context) -> method`` (the context holds
the matcher, the budget and the folder of external presets) and declares what, besides the item,
decides the method's result: the render budget and a search revision, the retrieval library, the
external folder. Those go into the settings key that logged attempts are reused by
(:func:`synthmatch.bench.log.settings_key`).
"""

from __future__ import annotations

import functools
import math
import pathlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from synthmatch.bench.suites import Item
from synthmatch.errors import SynthmatchError
from synthmatch.render.probe import Probe
from synthmatch.vital.preset import Preset

#: The budget of ``search-big`` and ``match-big``, in multiples of the default budget.
#: BENCHMARK.md's ``search-big`` is "the refiner with 20x the default budget (the 'what search alone
#: can reach' line)": the refiner alone, with no retrieval to start it, so from the init preset, as
#: ``search-from-init`` is at 1x. ``match-big`` is this project's stricter extra line: the whole
#: matcher (retrieval, re-rank, pruning, refiner) at 20x the budget, what more renders buy ``match``.
SEARCH_BIG_FACTOR = 20
#: Older method names still accepted, mapped to the current ones.
METHOD_ALIASES = {"search-big-from-init": "search-big"}


@dataclass
class Attempt:
    """What a method returned on one item: the preset (None: no answer) and the probe it chose,
    what it cost, and the note analysis it made (detected note, key release in seconds from the
    clip's start)."""

    preset: Preset | None
    probe: Probe
    renders: int
    seconds: float
    detected_note: int | None = None
    release_s: float | None = None  # detected key release, seconds from the clip's start


MethodFn = Callable[[Item], Attempt]


@dataclass(frozen=True)
class MethodContext:
    """What a method is built from.

    ``matcher`` is a :class:`synthmatch.search.match.Matcher` (its pool renders the searches; None
    for methods that use neither); ``budget`` the render budget of one match;
    ``external_dir`` the folder of ``<item name>.vital`` presets of the ``external`` method;
    ``train_library`` the libraries built from the estimator's training set, comma-separated
    (``knn-train`` takes the one of an audio embedding, ``knn-learned`` the one of the
    ``estimator`` embedding: :func:`train_library_for`)."""

    matcher: Any
    budget: int
    external_dir: str | None = None
    train_library: str | None = None


MethodFactory = Callable[[MethodContext], MethodFn]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method and what decides its result besides the item.

    ``revision``: the method searches with the run's budget, and the revision of the whole match
    pipeline (``"match"``) or of the refiner alone (``"refiner"``) decides its result; ``library``:
    the retrieval library does; ``external_dir``: the folder of external presets does;
    ``estimator``: the trained estimator does; ``train_library``: the library of the estimator's
    training set does, the one of an audio embedding (``"audio"``) or of the learned one
    (``"learned"``); ``settings``: ``settings() -> dict`` names what else does (e.g. a render
    count of its own, the revision of its own code), read when the key is made."""

    name: str
    build: MethodFactory
    description: str
    revision: Literal["match", "refiner"] | None = None
    library: bool = False
    external_dir: bool = False
    estimator: bool = False
    train_library: Literal["audio", "learned"] | None = None
    settings: Callable[[], dict[str, Any]] | None = None


#: The methods by name, in registration order.
METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    *,
    description: str = "",
    revision: Literal["match", "refiner"] | None = None,
    library: bool = False,
    external_dir: bool = False,
    estimator: bool = False,
    train_library: Literal["audio", "learned"] | None = None,
    settings: Callable[[], dict[str, Any]] | None = None,
) -> Callable[[MethodFactory], MethodFactory]:
    """Decorator adding the factory ``build(context) -> method`` to :data:`METHODS` as ``name``.

    ``revision``, ``library``, ``external_dir``, ``estimator``, ``train_library`` and
    ``settings`` say what decides the method's result besides the item (:class:`MethodSpec`)."""

    def deco(build: MethodFactory) -> MethodFactory:
        if name in METHODS and METHODS[name].build is not build:
            raise ValueError(f"method {name!r} is already registered by {METHODS[name].build.__qualname__}")
        METHODS[name] = MethodSpec(
            name, build, description, revision, library, external_dir, estimator, train_library, settings
        )
        return build

    return deco


def method_names() -> list[str]:
    """The registered methods, in registration order."""
    return list(METHODS)


def canonical_methods(names: list[str]) -> list[str]:
    """``names`` with old names replaced by the current ones (:data:`METHOD_ALIASES`), in order,
    without repeats, so logs and reports always use one name per method."""
    out: list[str] = []
    for n in names:
        n = METHOD_ALIASES.get(n, n)
        if n not in out:
            out.append(n)
    return out


def make_methods(
    names: list[str],
    *,
    matcher: Any,
    budget: int,
    external_dir: str | None = None,
    train_library: str | None = None,
) -> dict[str, MethodFn]:
    """The methods ``names`` (old names accepted, :func:`canonical_methods`), built on one context."""
    names = canonical_methods(names)
    unknown = set(names) - set(METHODS)
    if unknown:
        raise SynthmatchError(f"unknown methods {sorted(unknown)}; choose from {sorted(METHODS)}")
    context = MethodContext(
        matcher=matcher, budget=budget, external_dir=external_dir, train_library=train_library
    )
    return {n: METHODS[n].build(context) for n in names}


# ---------------------------------------------------------------------------------------
# The protocol's methods.
# ---------------------------------------------------------------------------------------
Pick = Callable[[Item, Probe, Any], tuple[Preset | None, int]]


def _detect(item: Item) -> tuple[Probe, Any]:
    """The baselines' note analysis of ``item`` and the probe it gives."""
    from synthmatch.audio.analysis import analyze
    from synthmatch.search.match import probe_for

    an = analyze(item.audio, item.sample_rate)
    return probe_for(an, duration_s=len(item.audio) / item.sample_rate, sample_rate=item.sample_rate), an


def _timed(pick: Pick) -> MethodFn:
    """A method from ``pick(item, probe, analysis) -> (preset, renders)``: detect, time, wrap."""

    def method(item: Item) -> Attempt:
        t0 = time.monotonic()
        probe, an = _detect(item)
        preset, renders = pick(item, probe, an)
        return Attempt(preset, probe, renders, time.monotonic() - t0, an.midi_note, an.release_s)

    return method


def _matching(context: MethodContext, budget: int, **settings: Any) -> MethodFn:
    """The whole matcher at ``budget`` renders, with its own analysis (``settings``: other
    :class:`~synthmatch.search.config.MatchConfig` fields, e.g. the proposal sources)."""

    def method(item: Item) -> Attempt:
        t0 = time.monotonic()
        res = context.matcher.match((item.audio, item.sample_rate), budget=budget, candidates=1, **settings)
        return Attempt(
            res.best.preset,
            res.probe,
            res.renders,
            time.monotonic() - t0,
            res.analysis["midi_note"],
            _release_from_clip_start(res.analysis),
        )

    return method


def _release_from_clip_start(record: dict[str, Any]) -> float | None:
    """The key release a target's analysis record (:meth:`~synthmatch.search.target.Target.record`)
    found, in seconds from the clip's start: the matcher measures it from the trimmed clip's."""
    release = record["release_s"]
    return None if release is None else release + record["trimmed_start_s"]


def _searching_from_init(context: MethodContext, renders: int) -> MethodFn:
    """CMA-ES from the init preset at ``renders`` renders, with no retrieval to start it."""

    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        from synthmatch.search.match import make_score, target_f0_of
        from synthmatch.search.refine import Budget, Objective, get_refiner

        obj = Objective(
            score=make_score(item.audio, probe, target_f0=target_f0_of(an)),
            pool=context.matcher.pool,
            probe=probe,
        )
        best = get_refiner("cmaes").refine(Preset.init(), obj, Budget(max_renders=renders))
        return (best.preset if best else Preset.init()), obj.renders

    return _timed(pick)


@register_method(
    "match", description="the matcher (its default sources)", revision="match", library=True, estimator=True
)
def _match(context: MethodContext) -> MethodFn:
    return _matching(context, context.budget)


@register_method(
    "match-library",
    description="the matcher with the library's proposals alone",
    revision="match",
    library=True,
)
def _match_library(context: MethodContext) -> MethodFn:
    return _matching(context, context.budget, sources=("library",))


@register_method("init", description="Vital's init preset")
def _init(context: MethodContext) -> MethodFn:
    return _timed(lambda item, probe, an: (Preset.init(), 0))


@register_method("random", description="a preset of the project's sampler, the same for an item on every run")
def _random(context: MethodContext) -> MethodFn:
    from synthmatch.data.samplers import make_sampler

    # made on first use: it reads the training presets, which the other methods do not need
    sampler = functools.lru_cache(maxsize=1)(lambda: make_sampler("mix"))

    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        # crc32, not hash(): str hashes are salted per process, and the baseline must repeat
        return sampler().sample(seed=7, index=zlib.crc32(item.name.encode()) % 100_000), 0

    return _timed(pick)


@register_method("knn", description="the library's nearest preset", library=True)
def _knn(context: MethodContext) -> MethodFn:
    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        (i, _), *_ = context.matcher.nearest(item.audio, item.sample_rate, 1)
        return context.matcher.library.preset(i), 0

    return _timed(pick)


@register_method("search-from-init", description="the refiner from the init preset", revision="refiner")
def _search_from_init(context: MethodContext) -> MethodFn:
    return _searching_from_init(context, context.budget)


@register_method(
    "search-big",
    description=f"the refiner from the init preset at {SEARCH_BIG_FACTOR}x the budget",
    revision="refiner",
)
def _search_big(context: MethodContext) -> MethodFn:
    return _searching_from_init(context, context.budget * SEARCH_BIG_FACTOR)


@register_method(
    "match-big",
    description=f"the whole matcher at {SEARCH_BIG_FACTOR}x the budget",
    revision="match",
    library=True,
)
def _match_big(context: MethodContext) -> MethodFn:
    return _matching(context, context.budget * SEARCH_BIG_FACTOR)


@register_method("external", description="<item>.vital from --external-dir", external_dir=True)
def _external(context: MethodContext) -> MethodFn:
    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset | None, int]:
        f = pathlib.Path(context.external_dir or ".") / f"{item.name}.vital"
        return (Preset.from_file(f) if f.exists() else None), 0

    return _timed(pick)


#: Draws from the estimator's distributions that ``estimator-best`` renders (the mode included).
ESTIMATOR_BEST_OF = 8


@register_method("estimator", description="the learned estimator's mode, no render", estimator=True)
def _estimator(context: MethodContext) -> MethodFn:
    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        from synthmatch.search.scoring import fit_length

        est = context.matcher.source("estimator").estimator
        f0 = an.f0_hz if an.pitched else None
        return est.presets(fit_length(item.audio, probe.n_samples), probe, n=1, f0=f0)[0], 0

    return _timed(pick)


@register_method(
    "estimator-best",
    description=f"the best of the estimator's mode and {ESTIMATOR_BEST_OF - 1} draws, by rendering them",
    estimator=True,
)
def _estimator_best(context: MethodContext) -> MethodFn:
    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        from synthmatch.search.match import make_score, target_f0_of
        from synthmatch.search.refine import Budget, Objective
        from synthmatch.search.scoring import fit_length

        est = context.matcher.source("estimator").estimator
        f0 = an.f0_hz if an.pitched else None
        presets = est.presets(fit_length(item.audio, probe.n_samples), probe, n=ESTIMATOR_BEST_OF, f0=f0)
        obj = Objective(
            score=make_score(item.audio, probe, target_f0=target_f0_of(an)),
            pool=context.matcher.pool,
            probe=probe,
        )
        evals = obj.evaluate_presets(presets, Budget(max_renders=len(presets)))
        best = min(evals, key=lambda e: e.score)
        return best.preset, obj.renders

    return _timed(pick)


@register_method(
    "match-estimator",
    description="the matcher with the estimator's proposals beside the library's",
    revision="match",
    library=True,
    estimator=True,
)
def _match_estimator(context: MethodContext) -> MethodFn:
    return _matching(context, context.budget, sources=("estimator", "library"))


@functools.lru_cache(maxsize=4)
def load_train_library(path: str) -> Any:
    """The library built from the estimator's training set (``synthmatch library build --dataset``)."""
    from synthmatch.search.library import Library

    return Library.load(path)


def _embedding_name(path: str) -> str:
    """The embedding of the library at ``path``, read from its ``library.json`` alone."""
    import json

    meta = pathlib.Path(path) / "library.json"
    if not meta.is_file():
        return str(load_train_library(path).embedding_name)  # raises: not a library
    return str(json.loads(meta.read_text())["embedding"]["name"])


#: The embedding of a library that ``knn-learned`` reads (the others are ``knn-train``'s).
LEARNED_EMBEDDING = "estimator"


def train_library_for(method: str, train_library: str | None) -> str | None:
    """The library of ``train_library`` (one path or several, comma-separated) that ``method``
    reads: the one of the ``estimator`` embedding for a method declared
    ``train_library="learned"``, the one of another embedding for ``"audio"``; None when
    ``train_library`` holds none of its kind or ``method`` reads none. Two of one kind are refused."""
    kind = METHODS[method].train_library
    if kind is None or not train_library:
        return None
    paths = [p.strip() for p in train_library.split(",") if p.strip()]
    mine = [p for p in paths if (_embedding_name(p) == LEARNED_EMBEDDING) == (kind == "learned")]
    if len(mine) > 1:
        raise SynthmatchError(
            f"{method} reads one library, and --train-library names {len(mine)} of its kind: {', '.join(mine)}"
        )
    return mine[0] if mine else None


def _train_library_of(method: str, context: MethodContext, *, missing: str) -> tuple[Any, Any]:
    """(the library ``method`` reads from ``--train-library``, its embedding); ``missing`` is the
    error's text when there is none of its kind."""
    from synthmatch.audio.features import get_embedding

    path = train_library_for(method, context.train_library)
    if not path:
        raise SynthmatchError(f"{method} needs --train-library: {missing}")
    library = load_train_library(path)
    emb = library.provenance["embedding"]
    return library, get_embedding(emb["name"], **emb.get("config", {}))


@register_method(
    "knn-train",
    description="the nearest preset of a library built from the estimator's training set (--train-library)",
    train_library="audio",
)
def _knn_train(context: MethodContext) -> MethodFn:
    library, embedding = _train_library_of(
        "knn-train",
        context,
        missing="a library built from the estimator's training set (synthmatch library build --dataset "
        "DATASET --embedding logmel-stats --split train --out LIB; a library of the estimator embedding is "
        "knn-learned's)",
    )

    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        idx, _ = library.search(embedding.embed(item.audio, item.sample_rate), 1)
        return at_note(library, int(idx[0]), probe.note), 0

    return _timed(pick)


def at_note(library: Any, i: int, note: int) -> Preset:
    """Library item ``i``'s preset, to be played at ``note``.

    An item that keeps its own probe (a library built from a dataset's stored features, whose
    items were rendered at notes 36-84) is transposed (``voice_transpose``, clamped to its range)
    by its note minus ``note``: played at ``note``, it then sounds at the pitch it was retrieved
    for. Items of a library rendered at one probe are returned as they are."""
    from synthmatch.vital.spec import default_space

    preset = library.preset(i)
    own = library.records[i].get("probe")
    if own is None:
        return preset
    shift = int(Probe.from_dict(own).note) - int(note)
    if shift == 0:
        return preset
    spec = default_space()["voice_transpose"]
    return preset.with_values(voice_transpose=spec.clamp(preset.values.get("voice_transpose", 0.0) + shift))


@register_method(
    "knn-learned",
    description="the nearest preset of a library of the estimator's embedding, queried with the target's "
    "probe (--train-library)",
    train_library="learned",
)
def _knn_learned(context: MethodContext) -> MethodFn:
    from synthmatch.search.estimator import retuned
    from synthmatch.search.scoring import fit_length

    # the library's embedding config names its model and fingerprint: another model is refused
    library, embedding = _train_library_of(
        "knn-learned",
        context,
        missing="a library of the estimator embedding (synthmatch library build --dataset DATASET "
        "--embedding estimator --estimator EST --split train --out LIB), beside knn-train's if both run: "
        "--train-library LIB,LEARNED_LIB",
    )

    def pick(item: Item, probe: Probe, an: Any) -> tuple[Preset, int]:
        # the target as the estimator method reads it, at the probe the bench plays
        q = embedding.embed(fit_length(item.audio, probe.n_samples), item.sample_rate, probe=probe)
        idx, _ = library.search(q, 1)
        preset = library.preset(int(idx[0]))
        # The vector describes the sound relative to the probe it was played at (the network is
        # conditioned on the note), so the item's preset is the answer at the target's note as it
        # is, with no shift by its own note (at_note); a pitched target's f0 then sets its pitch, as
        # for the estimator's answers.
        return (retuned(preset, an.f0_hz, probe.note) if an.pitched else preset), 0

    return _timed(pick)


# ---------------------------------------------------------------------------------------
# Search baselines: other searches, on match's render pool and objective.
# ---------------------------------------------------------------------------------------
#: Revision of the search baselines' own code (``cmaes-all``, ``random-search``, ``ga`` and the
#: searches of :mod:`synthmatch.search.population`): bump it with a change that moves their results.
SEARCH_BASELINES_REVISION = 1
#: Renders of one ``ga`` search, whatever ``--budget`` says: SpiegeLib's GA spends about 20,000
#: per sound; this is a quarter of that, 39 times the default budget of ``match``.
GA_RENDERS = 5000
#: ``cmaes-all``'s limit on the search dimensions: more than the space has, so none is cut.
ALL_DIMS = 1 << 20
#: The sampler ``random-search`` draws from (the ``random`` method's).
RANDOM_SEARCH_SAMPLER = "mix"

#: ``search(item, target, objective) -> best evaluation or None`` (:func:`_searching`).
Search = Callable[[Item, Any, Any], Any]


def _searching(context: MethodContext, search: Search) -> MethodFn:
    """A method that reads the item as ``match`` does (its probe and f0:
    :func:`~synthmatch.search.target.analyze_target`) and runs ``search`` with match's objective
    on the matcher's render pool; the attempt is the best preset it found."""

    def method(item: Item) -> Attempt:
        from synthmatch.search.match import make_score
        from synthmatch.search.refine import Objective
        from synthmatch.search.scoring import candidate_f0
        from synthmatch.search.target import analyze_target

        t0 = time.monotonic()
        target = analyze_target((item.audio, item.sample_rate), sample_rate=item.sample_rate)
        # the same score as match's, without its pitch memo: that holds every render's audio
        f0_of = functools.partial(candidate_f0, sample_rate=target.sample_rate)
        objective = Objective(
            score=make_score(target.samples, target.probe, target_f0=target.f0, f0_of=f0_of),
            pool=context.matcher.pool,
            probe=target.probe,
        )
        best = search(item, target, objective)
        record = target.record()
        return Attempt(
            best.preset if best is not None else None,
            target.probe,
            objective.renders,
            time.monotonic() - t0,
            record["midi_note"],
            _release_from_clip_start(record),
        )

    return method


def _from_library_start(context: MethodContext, refiner: str, renders: int, **options: Any) -> MethodFn:
    """The registered ``refiner`` (with ``options``) from the best of the library's nearest
    proposals, ``renders`` renders in all.

    The start is chosen as ``match`` chooses its first: the library source's proposals rendered at
    the target's probe (a third of the renders at most; those that sound off a pitched target
    also retuned onto it: :func:`~synthmatch.search.stages.rerank`), the best kept."""

    def search(item: Item, target: Any, objective: Any) -> Any:
        from synthmatch.search.config import MatchConfig
        from synthmatch.search.refine import Budget, BudgetExhausted, get_refiner
        from synthmatch.search.stages import propose, rerank

        config = MatchConfig(sources=("library",))
        budget = Budget(max_renders=renders)
        proposals = propose(
            target, [context.matcher.source("library")], max(config.rerank, config.candidates)
        )
        try:
            evals = rerank(proposals, target, objective, budget, config, f0_of=objective.score_fn.f0_of)
        except BudgetExhausted:
            return objective.best()
        start = min((e for e in evals if math.isfinite(e.score)), key=lambda e: e.score, default=None)
        if start is None:
            return None
        return get_refiner(refiner, **options).refine(start.preset, objective, budget, start_eval=start)

    return _searching(context, search)


def _baselines_revision() -> dict[str, Any]:
    return {"search_baselines": SEARCH_BASELINES_REVISION}


@register_method(
    "cmaes-all",
    description="CMA-ES over every active continuous parameter (no cut) from the library's best start",
    revision="match",
    library=True,
    settings=_baselines_revision,
)
def _cmaes_all(context: MethodContext) -> MethodFn:
    return _from_library_start(context, "cmaes", context.budget, max_dims=ALL_DIMS)


@register_method(
    "random-search",
    description="the best of --budget presets of the project's sampler, the same for an item on every run",
    revision="refiner",
    settings=lambda: {**_baselines_revision(), "sampler": RANDOM_SEARCH_SAMPLER},
)
def _random_search(context: MethodContext) -> MethodFn:
    from synthmatch.data.samplers import make_sampler

    # made on first use: it reads the training presets, which the other methods do not need
    sampler = functools.lru_cache(maxsize=1)(lambda: make_sampler(RANDOM_SEARCH_SAMPLER))

    def search(item: Item, target: Any, objective: Any) -> Any:
        from synthmatch.search.population import random_search
        from synthmatch.search.refine import Budget

        seed = zlib.crc32(item.name.encode())  # not hash(): str hashes are salted per process
        draw = lambda i: sampler().sample(seed=seed, index=i)  # noqa: E731
        return random_search(draw, objective, Budget(max_renders=context.budget))

    return _searching(context, search)


def _ga_settings() -> dict[str, Any]:
    from synthmatch.search.match import MATCH_REVISION

    # its own render count, not the run's budget; the library start as match's re-rank finds it
    return {**_baselines_revision(), "renders": GA_RENDERS, "revision": MATCH_REVISION}


@register_method(
    "ga",
    description=f"a genetic algorithm over every control of the library's best start, {GA_RENDERS} "
    "renders (not --budget)",
    library=True,
    settings=_ga_settings,
)
def _ga(context: MethodContext) -> MethodFn:
    return _from_library_start(context, "ga", GA_RENDERS)
