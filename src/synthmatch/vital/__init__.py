"""The Vital model: parameter space, preset codec, modulation, effects order, wavetables."""

from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset, check_vital_json
from synthmatch.vital.spec import ParamSpace, ParamSpec, default_space, excluded_controls

__all__ = [
    "Modulation",
    "ParamSpace",
    "ParamSpec",
    "Preset",
    "check_vital_json",
    "default_space",
    "excluded_controls",
]
