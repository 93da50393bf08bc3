"""Which settings of a preset matter for its sound, as the tutorial needs it.

This starts from the parameter space's activity rules (:meth:`synthmatch.vital.Preset.active`)
and adds what rebuilding real presets showed the rules miss (each measured: leaving the setting
at its init value changed the render of a test preset by 1–40 dB SNR):

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
  and so on down the chain (found on sampled presets: −3.9 and −25 dB SNR without it).

These belong in the space's declaration (``synthmatch.vital.spec``); until they are there, the
explain layer applies them itself so that no audible setting is left out of a tutorial.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from synthmatch.vital.modulation import Modulation
from synthmatch.vital.preset import Preset
from synthmatch.vital.spec import ParamSpace, default_space

#: Oscillator distortion types that read another oscillator ("FM <- Osc", "RM <- Osc"): type →
#: which of the two other oscillators (in ascending order) they read.
_READS_OTHER_OSC = {7: 0, 8: 1, 10: 0, 11: 1}

_MOD_TARGET = re.compile(r"modulation_(\d+)_(amount|power|bipolar|stereo|bypass)")


def sounding_modulations(mods: Sequence[Modulation]) -> list[bool]:
    """For each connection (slot order): can it change the sound?

    A connection sounds when it is not bypassed and its amount is non-zero, or when a sounding
    connection modulates its amount (or curve); a connection whose destination is another row
    that does not sound (empty or bypassed) does not sound either.
    """
    keep = [m.audible for m in mods]
    targets = []
    for m in mods:
        hit = _MOD_TARGET.fullmatch(m.destination)
        targets.append(int(hit.group(1)) - 1 if hit else None)
    changed = True
    while changed:
        changed = False
        for i, k in enumerate(targets):
            if keep[i] and k is not None and 0 <= k < len(mods) and not keep[k] and not mods[k].bypass:
                keep[k] = True
                changed = True
    # A connection that modulates an empty or bypassed row changes nothing.
    changed = True
    while changed:
        changed = False
        for i, k in enumerate(targets):
            if keep[i] and k is not None and not (0 <= k < len(mods) and keep[k]):
                keep[i] = False
                changed = True
    return keep


def used_sources(preset: Preset) -> set[str]:
    """Modulation sources of connections that can change the sound."""
    flags = sounding_modulations(preset.modulations)
    return {m.source for m, on in zip(preset.modulations, flags) if on}


def effective_active(preset: Preset, *, space: ParamSpace | None = None) -> dict[str, bool]:
    """Which engine controls of the space matter for ``preset``'s sound (see the module doc)."""
    space = space or default_space()
    values = preset.all_values(space=space)
    active = space.active_mask(values, used_sources(preset))
    v = preset.values
    for osc in "123":
        if v.get(f"osc_{osc}_on", 0.0) >= 0.5:
            active[f"osc_{osc}_stereo_spread"] = True
            active[f"osc_{osc}_stack_style"] = True
    # Oscillators read by a sounding oscillator's FM/RM, transitively.
    reached = [osc for osc in (1, 2, 3) if v.get(f"osc_{osc}_on", 0.0) >= 0.5]
    for osc in reached:
        kind = round(float(v.get(f"osc_{osc}_distortion_type", 0.0)))
        if kind in _READS_OTHER_OSC:
            other = [k for k in (1, 2, 3) if k != osc][_READS_OTHER_OSC[kind]]
            active[f"osc_{other}_distortion_type"] = True
            if other not in reached:
                reached.append(other)
    if v.get("delay_on", 0.0) >= 0.5 and v.get("delay_style", 0.0) >= 0.5:
        aux_sync = v.get("delay_aux_sync", 0.0)
        active["delay_aux_sync"] = True
        active["delay_aux_frequency"] = aux_sync < 0.5
        active["delay_aux_tempo"] = 0.5 <= aux_sync < 3.5
    return {name: active.get(name, False) for name in space.control_names()}
