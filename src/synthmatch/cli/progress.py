"""Progress bars for the command line: turn a ``progress(done, total)`` callback into tqdm."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(
    description: str, *, total: int | None = None, unit: str = "it", lazy: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback that drives a tqdm bar on stderr (rate and ETA).

    ``lazy`` shows the bar at the first update only, so a job that stops on bad input before any
    work prints its error alone."""
    from tqdm import tqdm

    def make() -> Any:
        return tqdm(
            total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1
        )

    bars = [] if lazy else [make()]
    state = {"done": 0}

    def update(done: int, total_now: int) -> None:
        if not bars:
            bars.append(make())
        bar = bars[0]
        if bar.total != total_now:
            bar.total = total_now
        bar.update(done - state["done"])
        state["done"] = done

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()
