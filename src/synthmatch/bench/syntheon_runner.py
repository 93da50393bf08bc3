"""Runs syntheon's Vital inferencer on one WAV file, inside the syntheon virtual environment.

This script is run by that environment's Python (:mod:`synthmatch.bench.syntheon`), never imported
by synthmatch: it needs syntheon, torch and librosa, which synthmatch's own environment does not
hold, and it imports nothing of synthmatch. ``docs/SYNTHEON.md`` says what it changes relative to
upstream syntheon and why.

Usage::

    python syntheon_runner.py IN.wav OUT.vital   # infer, write OUT.vital; exit 1 with a traceback on failure
    python syntheon_runner.py --check            # import everything, print a CHECK line of versions
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
import types
from typing import Any

#: The line ``--check`` prints before its JSON (other libraries print to stdout on import).
CHECK_PREFIX = "SYNTHEON-CHECK "


def _install_shims() -> None:
    """``torchvision.transforms.Resize``, the one thing syntheon 0.1.0 takes from torchvision, which
    is not installed (its pinned 0.13.1 has no wheel for this Python).

    syntheon's model resizes its MFCC features with it. torchvision 0.13.1 resizes a float tensor
    with ``interpolate(..., mode="bilinear", align_corners=False, antialias=False)``, which is
    exactly what this does; a current torchvision antialiases by default and would change the
    model's input.
    """
    import torch.nn.functional as F

    class Resize:
        """torchvision 0.13.1's ``Resize(size=(h, w))`` on a float tensor ``[..., H, W]``."""

        def __init__(self, size: Any) -> None:
            self.size = [int(s) for s in size]

        def __call__(self, img: Any) -> Any:
            squeeze = img.ndim < 4  # torchvision makes the tensor NCHW, then undoes it
            x = img.unsqueeze(0) if squeeze else img
            y = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=False)
            return y.squeeze(0) if squeeze else y

    transforms = types.ModuleType("torchvision.transforms")
    transforms.Resize = Resize  # type: ignore[attr-defined]
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms  # type: ignore[attr-defined]
    sys.modules.setdefault("torchvision", torchvision)
    sys.modules.setdefault("torchvision.transforms", transforms)


def check() -> dict[str, str]:
    """Import syntheon with the shims; the versions of what it runs on."""
    _install_shims()
    from importlib.metadata import version

    import syntheon  # noqa: F401  (imports the inferencer, its model code and the pitch tracker)

    names = ("syntheon", "torch", "librosa", "nnAudio", "torchcrepeV2", "onnxruntime", "numpy", "resampy")
    return {"python": sys.version.split()[0], **{n: version(n) for n in names}}


def infer(wav: pathlib.Path, out: pathlib.Path) -> None:
    """Write syntheon's Vital preset for ``wav`` to ``out``."""
    _install_shims()
    import torch

    torch.manual_seed(0)
    from syntheon import infer_params

    wav = wav.resolve()
    out = out.resolve()
    # infer_params writes "vital_output.vital" into the working folder
    with tempfile.TemporaryDirectory(prefix="syntheon-", dir=out.parent) as tmp:
        os.chdir(tmp)
        written, _ = infer_params(str(wav), "vital", enable_eval=False)
        shutil.move(os.path.join(tmp, written), out)
        os.chdir(out.parent)


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        print(CHECK_PREFIX + json.dumps(check()), flush=True)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    infer(pathlib.Path(argv[0]), pathlib.Path(argv[1]))
    return 0


if __name__ == "__main__":
    # this folder holds synthmatch's syntheon.py, which must not stand in for the package
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.exit(main(sys.argv[1:]))
