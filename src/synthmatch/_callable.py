"""Callable subpackages: ``synthmatch.render(...)`` and ``synthmatch.explain(...)``.

The package root offers :func:`synthmatch.api.render` and :func:`synthmatch.api.explain` under
the names of the subpackages ``synthmatch.render`` and ``synthmatch.explain``. Python binds a
subpackage to its name on the root when it is first imported, so a plain function there would be
replaced; instead each subpackage module is made callable as its function, and
``synthmatch.render.RenderPool`` keeps working beside ``synthmatch.render(preset, probe)``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(module_name: str, target: str) -> None:
    """Make the loaded module ``module_name`` callable as ``target`` (``"package.module:function"``)."""
    module_path, function = target.split(":")

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module_path), function)(*args, **kwargs)

    CallableModule.__call__.__doc__ = f"Call :func:`{module_path}.{function}`."
    sys.modules[module_name].__class__ = CallableModule
