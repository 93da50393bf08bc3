"""Which settings of a preset matter for its sound, as the tutorial needs it.

The rules are the parameter space's (:meth:`synthmatch.vital.Preset.active` and
:func:`synthmatch.vital.modulation.sounding`); this module gives them the names the explain layer
uses. Beyond module switches and routed sources, the rules cover cases found by rebuilding real
presets (each measured: leaving the setting at its init value changes the render of a test
preset by 1–40 dB SNR):

* **Modulated modulation amounts.** A connection with amount 0 still sounds when another
  connection modulates its amount (``macro_control_2 → modulation_4_amount``). Such connections
  and their sources count as used.
* **Stereo delay times.** ``delay_aux_*`` (the right-channel time) matter in the Stereo,
  Ping Pong and Mid Ping Pong delay styles, not only in Stereo.
* **Oscillator stereo spread and stack style.** ``osc_N_stereo_spread`` and
  ``osc_N_stack_style`` change the sound with one unison voice too ("Center Drop 12" drops the
  single voice an octave: −4 dB SNR).
* **Cross-modulating oscillators.** When an oscillator that is on uses "FM <- Osc k" or
  "RM <- Osc k", oscillator k's own distortion type changes the sound even with k switched off,
  and so on down the chain (on sampled presets: −3.9 and −25 dB SNR without it).
"""

from __future__ import annotations

from collections.abc import Sequence

from synthmatch.vital.modulation import Modulation, sounding
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space


def sounding_modulations(mods: Sequence[Modulation]) -> list[bool]:
    """For each connection (slot order): can it change the sound? (see :func:`synthmatch.vital.modulation.sounding`)."""
    return sounding(list(mods))


def used_sources(preset: Preset) -> set[str]:
    """Modulation sources of connections that can change the sound."""
    return preset.used_sources()


def effective_active(preset: Preset, *, space: ParamSpace | None = None) -> dict[str, bool]:
    """Which engine controls of the space matter for ``preset``'s sound (the space's rules)."""
    space = space or default_space()
    active = preset.active(space=space)
    return {name: active.get(name, False) for name in space.control_names()}
