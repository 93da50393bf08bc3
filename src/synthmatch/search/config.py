"""`MatchConfig`: every setting of a match, declared once.

The command line, the benchmark and the Python API all build a :class:`MatchConfig` and read its
defaults from here; nothing else declares a default budget or candidate count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: Renders per match: a median of 22-26 s per match on 2-core machines (``docs/BENCHMARKS.md``).
DEFAULT_BUDGET = 128
DEFAULT_CANDIDATES = 3
#: Proposals rendered at the target's probe before refinement (at most a third of the budget).
DEFAULT_RERANK = 12
#: Distinct proposals refined, each with an even share of what the re-rank left.
DEFAULT_STARTS = 2
#: Proposal sources, taken in turns: presets resynthesised from the target's own analysis, the
#: shipped estimator's mode and draws, and the library's nearest presets (``docs/BENCHMARKS.md``).
DEFAULT_SOURCES: tuple[str, ...] = ("analysis", "estimator", "library")
#: Targets longer than this (seconds) are refused.
DEFAULT_MAX_SECONDS_AUDIO = 30.0


@dataclass(frozen=True)
class MatchConfig:
    """Settings of one match (see :func:`synthmatch.match`).

    Attributes
    ----------
    budget : int | None
        Render budget (``None``: limited by ``seconds`` alone). ``0`` renders nothing: the
        candidates are the sources' first proposals, unscored (the estimator's answer in
        milliseconds, when ``sources`` starts with ``"estimator"``).
    seconds : float | None
        Wall-clock limit in seconds (``None``: limited by ``budget`` alone).
    candidates : int
        Distinct candidates returned, best first.
    note : int | None
        MIDI note to play (0-127); ``None`` detects it from the target.
    rerank : int
        Proposals rendered at the target's probe and ranked before refinement.
    starts : int
        Distinct proposals refined.
    seed : int
        Seed of the refiner (start ``j`` uses ``seed + j``).
    sources : tuple[str, ...]
        Proposal sources (:data:`synthmatch.search.proposals.SOURCES`), asked in this order.
    estimator : str | None
        Folder of the trained estimator the ``"estimator"`` source runs (``None``: the one shipped
        in the package, or ``$SYNTHMATCH_ESTIMATOR``).
    refiner : str
        Refiner (:data:`synthmatch.search.refine.REFINERS`).
    refiner_options : dict
        Keyword arguments of the refiner.
    align_pitch : bool
        Also try re-ranked proposals that sound off a pitched target retuned onto it.
    prune : bool
        Try each start with its modules switched off before refining it.
    moves : bool
        Refine each start in two rounds with a structural step between them (another wavetable,
        filter, octave, unison count, modulation, effect: :mod:`synthmatch.search.moves`); the
        second round searches the controls the first found audible. Needs a render budget.
    side_by_side : bool
        Refine the starts side by side (same result as one after the other, fewer idle workers).
    max_seconds_audio : float
        Refuse targets longer than this.
    workers : int | None
        Render workers of a pool the matcher makes itself (``None``: one per core).
    library : str | None
        Retrieval library folder (``None``: the bundled library).
    score_in_workers : bool | None
        Score renders in the render workers (``None``: when the pool fills the machine's cores).
    """

    budget: int | None = DEFAULT_BUDGET
    seconds: float | None = None
    candidates: int = DEFAULT_CANDIDATES
    note: int | None = None
    rerank: int = DEFAULT_RERANK
    starts: int = DEFAULT_STARTS
    seed: int = 0
    sources: tuple[str, ...] = DEFAULT_SOURCES
    estimator: str | None = None
    refiner: str = "cmaes"
    refiner_options: dict[str, Any] = field(default_factory=dict, hash=False)
    align_pitch: bool = True
    prune: bool = True
    moves: bool = True
    side_by_side: bool = True
    max_seconds_audio: float = DEFAULT_MAX_SECONDS_AUDIO
    workers: int | None = None
    library: str | None = None
    score_in_workers: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        else:
            object.__setattr__(self, "sources", tuple(self.sources))
        if self.budget is None and self.seconds is None:
            raise ValueError("give a render budget, a time limit in seconds, or both")
        if self.budget is not None and not self.budget >= 0:
            raise ValueError(f"budget must be 0 (no render) or more renders, got {self.budget!r}")
        if self.budget == 0 and self.seconds is not None:
            raise ValueError("budget=0 renders nothing: a time limit (seconds) does not apply to it")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds!r}")
        for name in ("candidates", "rerank", "starts"):
            value = getattr(self, name)
            if not value >= 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if self.note is not None and not 0 <= self.note <= 127:
            raise ValueError(f"note must be a MIDI note number 0-127 (60 is middle C), got {self.note!r}")
        if not self.max_seconds_audio > 0:
            raise ValueError(f"max_seconds_audio must be > 0, got {self.max_seconds_audio!r}")
        if self.workers is not None and not self.workers >= 1:
            raise ValueError(f"workers must be at least 1, got {self.workers!r}")
        if not self.sources:
            raise ValueError("give at least one proposal source, e.g. sources=('library',)")

    def replace(self, **changes: Any) -> MatchConfig:
        """A copy with some settings changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown match settings {sorted(unknown)}; see MatchConfig's fields")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sources"] = list(self.sources)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown match settings {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        if "sources" in d:
            d["sources"] = tuple(d["sources"])
        return cls(**d)
