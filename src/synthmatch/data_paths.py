"""Where synthmatch finds the shared data (presets, wavetables) and its bundled resources."""

from __future__ import annotations

import os
import pathlib

from synthmatch.errors import SynthmatchError


def shared_dir() -> pathlib.Path:
    """The shared data folder: ``$SYNTHMATCH_SHARED``, else ``../shared`` next to the checkout."""
    env = os.environ.get("SYNTHMATCH_SHARED")
    if env:
        return pathlib.Path(env)
    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared"
        if (cand / "presets").is_dir():
            return cand
    raise SynthmatchError(
        "the shared data folder (presets, wavetables) was not found. "
        "Hint: set SYNTHMATCH_SHARED=/path/to/shared or place it at ../shared next to the checkout."
    )


def package_data(*parts: str) -> pathlib.Path:
    """A file shipped inside the package (``synthmatch/resources/...``)."""
    return pathlib.Path(__file__).resolve().parent.joinpath("resources", *parts)
