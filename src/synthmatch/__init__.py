"""synthmatch: turn a sound into a Vital preset that reproduces it, and explain how it is built."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
