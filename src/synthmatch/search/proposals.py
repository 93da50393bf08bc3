"""Proposals: where a match's candidate presets come from, and how each was found.

A *proposal source* turns an analysed target into ranked :class:`Proposal` s without rendering
anything; ``match`` renders them at the target's probe (the re-rank) and refines the best. Sources
register by name (:func:`register_source`) and a :class:`~synthmatch.search.config.MatchConfig`
names the ones a match asks (``sources=("library",)`` by default).

Every proposal, and every preset the search derives from it, carries an :class:`Origin`: the
source and its item, the edits made on the way (retuned, pruned) and the refiner, as data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from synthmatch.search.target import Target
    from synthmatch.vital.preset import Preset


@dataclass(frozen=True)
class Origin:
    """How a preset was found.

    Attributes
    ----------
    source : str
        The proposal source (``"library"``), or ``"search"`` for presets of no known source.
    index : int | None
        The item of the source (a library index), when it has one.
    edits : tuple[str, ...]
        Changes made before refinement, in order (``"transposed +12"``, ``"tuned -11c"``,
        ``"pruned"``).
    refiner : str | None
        The refiner that moved it from there (``"cmaes"``), if any.
    """

    source: str = "search"
    index: int | None = None
    edits: tuple[str, ...] = ()
    refiner: str | None = None

    def __str__(self) -> str:
        head = f"{self.source} #{self.index}" if self.index is not None else self.source
        text = " ".join((head, *self.edits))
        return f"{text} + {self.refiner}" if self.refiner else text

    def edited(self, *edits: str) -> Origin:
        """This origin with more edits."""
        return replace(self, edits=(*self.edits, *edits))

    def refined_by(self, refiner: str) -> Origin:
        return replace(self, refiner=refiner)

    @property
    def lineage(self) -> tuple[str, int | None] | str:
        """The start this preset descends from: the source's item, whatever was done to it
        since (the whole origin for a preset of no source item)."""
        return (self.source, self.index) if self.index is not None else str(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "index": self.index,
            "edits": list(self.edits),
            "refiner": self.refiner,
        }


@dataclass(frozen=True)
class Proposal:
    """A preset a source proposes for a target, before any render.

    ``distance`` is the source's own measure of how far the preset is from the target (an
    embedding distance for the library; lower is nearer), or None."""

    preset: Preset
    origin: Origin
    distance: float | None = None


class ProposalSource(Protocol):
    """Proposes presets for an analysed target, nearest first, without rendering."""

    name: str

    def propose(self, target: Target, k: int) -> list[Proposal]: ...


#: Registered sources: name -> factory taking the :class:`~synthmatch.search.match.Matcher`
#: that asks (its library, embedding and pool are the sources' shared resources).
SOURCES: dict[str, Callable[[Any], ProposalSource]] = {}


def register_source(name: str) -> Callable[[type], type]:
    """Register a proposal source class under ``name`` (its ``__init__`` takes the matcher)."""

    def deco(cls: type) -> type:
        cls.name = name  # type: ignore[attr-defined]
        SOURCES[name] = cls
        return cls

    return deco


def make_source(name: str, matcher: Any) -> ProposalSource:
    try:
        factory = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown proposal source {name!r}; available: {sorted(SOURCES)}") from None
    return factory(matcher)


@register_source("library")
class LibrarySource:
    """The retrieval library's nearest presets to the target's embedding (faiss k-NN)."""

    def __init__(self, matcher: Any) -> None:
        self.library = matcher.library
        self.embedding = matcher.embedding

    def nearest(self, audio: Any, sample_rate: int, k: int, *, probe: Any = None) -> list[tuple[int, float]]:
        """[(library index, embedding distance)] of the ``k`` nearest presets, nearest first
        (``probe``: the one the target is played at, for an embedding conditioned on it)."""
        q = self.embedding.embed(audio, sample_rate, probe=probe)
        idx, dist = self.library.search(q, k)
        return list(zip(idx.tolist(), dist.tolist()))

    def propose(self, target: Target, k: int) -> list[Proposal]:
        return [
            Proposal(self.library.preset(i), Origin("library", i), d)
            for i, d in self.nearest(target.samples, target.sample_rate, k, probe=target.probe)
        ]
