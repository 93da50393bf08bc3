"""The modulation matrix: connections, name validation, and LFO shape helpers.

An unknown source or destination name is stored by the engine and crashes it on the next
render, so every name is validated here before it can reach a preset or the engine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from synthmatch.errors import UnknownModulationError
from synthmatch.vital import tables

#: Number of modulation slots in a Vital preset.
N_PRESET_SLOTS = 64


def _suggest(name: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, valid, n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def validate_source(name: str) -> str:
    """Return ``name`` if the engine knows it as a modulation source, else raise."""
    valid = tables.modulation_sources()
    if name not in valid:
        raise UnknownModulationError(
            f"unknown modulation source {name!r} (it would crash the engine).{_suggest(name, valid)} "
            f"Hint: valid sources are {', '.join(valid)}."
        )
    return name


def validate_destination(name: str) -> str:
    """Return ``name`` if the engine knows it as a modulation destination, else raise."""
    valid = tables.modulation_destinations()
    if name not in valid:
        raise UnknownModulationError(
            f"unknown modulation destination {name!r} (it would crash the engine).{_suggest(name, valid)} "
            "Hint: see synthmatch.vital.tables.modulation_destinations() for the 428 valid names."
        )
    return name


@dataclass
class Modulation:
    """One connection of the modulation matrix.

    ``amount`` is in [-1, 1] of the destination's range; ``power`` in [-10, 10] bends the curve.
    ``line_mapping`` is Vital's optional custom mapping curve (LineGenerator JSON), kept verbatim.
    """

    source: str
    destination: str
    amount: float = 0.0
    bipolar: bool = False
    power: float = 0.0
    stereo: bool = False
    bypass: bool = False
    line_mapping: dict[str, Any] | None = field(default=None, repr=False)
    #: The 1-based matrix slot this connection occupies when read from a preset (None: the first
    #: free slot). Slots matter: ``modulation_K_amount`` is itself a modulation destination.
    slot: int | None = None

    def validate(self) -> Modulation:
        validate_source(self.source)
        validate_destination(self.destination)
        return self

    @property
    def audible(self) -> bool:
        """True when the connection can change the sound (non-zero amount, not bypassed)."""
        return (abs(self.amount) > 0.0) and not self.bypass


_MOD_TARGET = re.compile(r"modulation_(\d+)_(amount|power|bipolar|stereo|bypass)")


def sounding(mods: list[Modulation], slots: list[int] | None = None) -> list[bool]:
    """For each connection: can it change the sound?

    A connection sounds when it is not bypassed and its amount is non-zero, or when a sounding
    connection modulates its amount (a row with amount 0 still sounds then); a connection whose
    destination is another row that does not sound changes nothing.
    """
    slots = slots or list(range(1, len(mods) + 1))
    index = {slot: i for i, slot in enumerate(slots)}
    keep = [m.audible for m in mods]
    targets: list[int | None] = []
    for m in mods:
        hit = _MOD_TARGET.fullmatch(m.destination)
        targets.append(index.get(int(hit.group(1)), -1) if hit else None)
    changed = True
    while changed:
        changed = False
        for i, k in enumerate(targets):
            if keep[i] and k is not None and k >= 0 and not keep[k] and not mods[k].bypass:
                keep[k] = changed = True
    changed = True
    while changed:
        changed = False
        for i, k in enumerate(targets):
            if keep[i] and k is not None and not (k >= 0 and keep[k]):
                keep[i] = False
                changed = True
    return keep


def used_sources(mods: list[Modulation], slots: list[int] | None = None) -> set[str]:
    """Sources whose connections can change the sound (see :func:`sounding`)."""
    return {m.source for m, on in zip(mods, sounding(mods, slots)) if on}


# ---------------------------------------------------------------------------------------
# LFO shapes (LineGenerator JSON). The engine outputs 1 - y.
# ---------------------------------------------------------------------------------------
def line_shape(
    name: str, points: list[tuple[float, float]], powers: list[float] | None = None, *, smooth: bool = False
) -> dict[str, Any]:
    """Build an LFO shape from (x, y) points in [0, 1] (y = 0 is the top of Vital's editor)."""
    if not 2 <= len(points) <= 100:
        raise ValueError(f"an LFO shape needs 2–100 points, got {len(points)}")
    flat: list[float] = []
    for x, y in points:
        flat += [float(x), float(y)]
    return {
        "name": name,
        "num_points": len(points),
        "points": flat,
        "powers": [float(p) for p in (powers or [0.0] * len(points))],
        "smooth": bool(smooth),
    }


#: A small declared library of LFO shapes (sampled by the data generators; named in tutorials).
LFO_SHAPES: dict[str, dict[str, Any]] = {
    "Triangle": line_shape("Triangle", [(0, 1), (0.5, 0), (1, 1)]),
    "Sine": line_shape("Sine", [(0, 1), (0.5, 0), (1, 1)], [2.0, -2.0, 0.0], smooth=True),
    "Saw Up": line_shape("Saw Up", [(0, 1), (1, 0)]),
    "Saw Down": line_shape("Saw Down", [(0, 0), (1, 1)]),
    "Square": line_shape("Square", [(0, 0), (0.5, 0), (0.5, 1), (1, 1)]),
    "Exp Decay": line_shape("Exp Decay", [(0, 0), (1, 1)], [-4.0, 0.0]),
}
