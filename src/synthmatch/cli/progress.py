"""Progress bars for the command line: turn a ``progress(done, total)`` callback into tqdm."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(
    description: str, *, total: int | None = None, unit: str = "it"
) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback that drives a tqdm bar on stderr (rate and ETA)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    state = {"done": 0}

    def update(done: int, total_now: int) -> None:
        if bar.total != total_now:
            bar.total = total_now
        bar.update(done - state["done"])
        state["done"] = done

    try:
        yield update
    finally:
        bar.close()
