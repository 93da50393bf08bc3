"""Note analysis: exact MIDI notes over 36-84, noise is unpitched, releases found within 50 ms."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.signal import butter, sosfilt, sosfilt_zi

from synthmatch.audio.analysis import (
    DEFAULT_VELOCITY,
    WEAK_APERIODICITY,
    PitchTrack,
    analyze,
    hz_to_midi,
    midi_to_hz,
    pitch_track,
    polyphony_warning,
    simultaneous_notes,
    velocity_from_peak_db,
)
from synthmatch.audio.pitch import _octave_check, _weakly_periodic_f0, to_pitch_rate
from synthmatch.dsp import remove_dc
from synthmatch.errors import AudioError, EmptyAudioError, SilentAudioError

SR = 44100


@lru_cache(maxsize=8)
def _table(harmonics: int, odd_only: bool) -> np.ndarray:
    n = 4096
    spec = np.zeros(n // 2 + 1, dtype=complex)
    k = np.arange(1, min(harmonics, n // 2 - 1) + 1)
    amp = 1.0 / k
    if odd_only:
        amp[k % 2 == 0] = 0.0
    spec[k] = -1j * amp
    table = np.fft.irfft(spec, n)
    return np.append(table, table[0]) / np.abs(table).max()


def _tone(
    freq: float,
    seconds: float,
    *,
    detune_cents: tuple[float, ...] = (0.0,),
    odd_only: bool = False,
    sr: int = SR,
) -> np.ndarray:
    """Band-limited saw (or square) from a wavetable; one voice per detune value, summed."""
    t = np.arange(round(seconds * sr)) / sr
    table = _table(max(1, int(0.45 * sr / freq)), odd_only)
    out = np.zeros_like(t)
    for i, cents in enumerate(detune_cents):
        phase = (freq * 2 ** (cents / 1200) * t + 0.37 * i) % 1.0
        out += np.interp(phase * 4096, np.arange(4097), table)
    return out / len(detune_cents)


def _adsr(
    n: int, *, attack: float, decay: float, sustain: float, note_s: float, release: float, curve: str
) -> np.ndarray:
    """Amplitude envelope held for ``note_s`` seconds, then released.

    ``curve="vital"``: Vital's default shape, amplitude (1 - s(u))^2 with s(u) = (e^{-2u} - 1)/(e^{-2} - 1),
    reaching zero after ``release`` seconds; ``curve="exp"``: exponential, -60 dB after ``release``.
    """
    t = np.arange(n) / SR
    env = np.where(t < attack, t / attack, np.maximum(sustain, 1 - (1 - sustain) * (t - attack) / decay))
    level = float(np.interp(note_s, t, env))
    u = np.maximum(t - note_s, 0.0) / release
    if curve == "vital":
        shape = np.expm1(-2.0 * np.minimum(u, 1.0)) / np.expm1(-2.0)
        env, rel = env**2, (level * (1.0 - shape)) ** 2
    else:
        rel = level * np.exp(-6.9 * u)
    return np.where(t < note_s, env, rel)


# --- pitch ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("midi", range(36, 85))
def test_detuned_saw_gives_the_exact_note(midi):
    f = midi_to_hz(midi)
    y = _tone(f, 1.0, detune_cents=(-9.0, 0.0, 8.0))
    y *= _adsr(len(y), attack=0.01, decay=0.2, sustain=0.7, note_s=0.7, release=0.2, curve="vital")
    a = analyze((0.5 * y).astype(np.float32), SR)
    assert a.pitched and a.midi_note == midi
    assert abs(a.cents) < 15.0
    assert a.f0_hz == pytest.approx(f, rel=0.01)
    assert a.pitch_confidence > 0.8


def _lowpass_sweep(x: np.ndarray, start_hz: float, end_hz: float, blocks: int = 16) -> np.ndarray:
    """A 2-pole low-pass whose cutoff moves geometrically from start to end (block-wise)."""
    out = np.empty_like(x)
    edges = np.linspace(0, len(x), blocks + 1).astype(int)
    zi = None
    for b, cutoff in enumerate(np.geomspace(start_hz, end_hz, blocks)):
        sos = butter(2, cutoff, fs=SR, output="sos")
        if zi is None:
            zi = sosfilt_zi(sos) * x[0]
        out[edges[b] : edges[b + 1]], zi = sosfilt(sos, x[edges[b] : edges[b + 1]], zi=zi)
    return out


@pytest.mark.parametrize("midi", [36, 43, 50, 57, 64, 71, 78, 84])
def test_filter_sweep_and_square_waves_keep_the_octave(midi):
    f = midi_to_hz(midi)
    swept = _lowpass_sweep(_tone(f, 1.0, detune_cents=(-6.0, 7.0)), 8000.0, 1.5 * f)
    assert analyze(swept.astype(np.float32), SR).midi_note == midi
    square = _tone(f, 0.8, odd_only=True)
    assert analyze((0.3 * square).astype(np.float32), SR).midi_note == midi


def _partials(freq: float, amps: np.ndarray, seconds: float = 1.0) -> np.ndarray:
    """Additive tone: partial k (1-based) of ``freq`` at amplitude ``amps[k - 1]``, normalised to 0.5 peak."""
    t = np.arange(round(seconds * SR)) / SR
    k = np.arange(1, len(amps) + 1)
    keep = k * freq < 0.45 * SR
    y = (amps[keep, None] * np.sin(2 * np.pi * freq * k[keep, None] * t[None, :] + k[keep, None])).sum(axis=0)
    return 0.5 * y / np.abs(y).max()


@pytest.mark.parametrize("midi", [24, 36, 48, 60, 72])
def test_weak_odd_partials_keep_the_period(midi):
    """Odd partials 20 dB and more under the even ones: the wave repeats at 1/f0, though it nearly does at half that.

    YIN stops at the half-period dip; every strong line sits on f0's grid and not all on 2·f0's, so the
    octave check goes down (a wavetable frame with a weak fundamental, a highpassed low oscillator).
    """
    k = np.arange(1, 41)
    amps = np.where(k % 2 == 1, 0.1 / k**2, 1.0 / k)
    a = analyze(_partials(midi_to_hz(midi), amps), SR)
    assert a.pitched and a.midi_note == midi


def test_a_faint_line_an_octave_down_does_not_move_the_note():
    """A sub-octave line 29 dB under the strongest partial is outside the 25 dB line range: the note stays the loud one's."""
    k = np.arange(1, 41)
    amps = np.where(k % 2 == 1, 10 ** (-35 / 20), 1.0 / k)
    amps[1:] = np.where(k[1:] % 2 == 1, 0.0, amps[1:])
    a = analyze(_partials(midi_to_hz(36), amps), SR)
    assert a.pitched and a.midi_note == 48


def test_one_stray_line_does_not_pull_the_octave_check_down():
    """A line at 3/8 of f0 fits the grid of f0/8, but one line between f0's harmonics is no evidence for 3 octaves.

    With three such lines (3/8, 5/8 and 11/8 of f0) the grid of f0/8 does hold.
    """
    f = midi_to_hz(72)
    t = np.arange(SR) / SR
    tone = _partials(f, 1.0 / np.arange(1, 21))
    frame_times = np.linspace(0.1, 0.9, 50)

    def check(strays: list[float]) -> float:
        y = tone + sum(0.1 * np.sin(2 * np.pi * f * r * t) for r in strays)
        return _octave_check(to_pitch_rate(y, SR), 22050, f, frame_times=frame_times)

    assert check([3 / 8]) == pytest.approx(f)
    assert check([3 / 8, 5 / 8, 11 / 8]) == pytest.approx(f / 8)


def _with_sub(freq: float, amps: np.ndarray, sub_db: float, seconds: float = 1.0) -> np.ndarray:
    """An additive tone at ``freq`` plus a sine an octave under it, ``sub_db`` from its strongest partial."""
    t = np.arange(round(seconds * SR)) / SR
    k = np.arange(1, len(amps) + 1)
    keep = k * freq < 0.45 * SR
    y = (amps[keep, None] * np.sin(2 * np.pi * freq * k[keep, None] * t[None, :] + k[keep, None])).sum(axis=0)
    y += amps.max() * 10 ** (sub_db / 20) * np.sin(2 * np.pi * freq / 2 * t + 0.3)
    return 0.5 * y / np.abs(y).max()


_DRAWBAR = np.array([1.0, 0.6, 0.0, 0.3, 0.0, 0.0, 0.0, 0.3])  # 8', 4', 2', 1' in octaves
_SAW = 1.0 / np.arange(1, 31)


@pytest.mark.parametrize("midi", [40, 52, 66, 80, 93])
@pytest.mark.parametrize(("amps", "sub_db"), [(_DRAWBAR, 0.0), (_DRAWBAR, -8.0), (_SAW, -3.0), (_SAW, -10.0)])
def test_a_lone_sub_octave_line_does_not_move_the_note(midi, amps, sub_db):
    """An organ's 16' stop (or a sine sub-oscillator) under a tone: the wave repeats an octave down,
    but only that one line sits off the series of the note played, which carries more power."""
    a = analyze(_with_sub(midi_to_hz(midi), amps, sub_db), SR)
    assert a.pitched and a.midi_note == midi


@pytest.mark.parametrize("midi", [36, 48, 60, 72])
def test_a_fundamental_with_weaker_even_harmonics_is_the_note(midi):
    """A sine with even-order distortion (2nd harmonic -8 dB, 4th -20 dB): the fundamental is stronger
    than the series an octave up, so it is the note."""
    amps = np.array([1.0, 10 ** (-8 / 20), 0.0, 0.1])
    a = analyze(_partials(midi_to_hz(midi), amps), SR)
    assert a.pitched and a.midi_note == midi


def _fifth(freq: float, *, fundamental_db: float | None = None, seconds: float = 1.5) -> np.ndarray:
    """A timpani-like one-shot: partials at ``freq`` and 1.5·freq, the upper one decaying slower, a few
    inharmonic lines 18-24 dB down; with ``fundamental_db``, also a line at freq/2 (and its 4th and 5th
    harmonics) that many dB under the pair, which makes it a harmonic series."""
    t = np.arange(round(seconds * SR)) / SR
    parts = [(1.0, 1.0, 3.0), (1.5, 0.9, 1.5), (2.14, 0.1, 4.0), (2.89, 0.12, 4.0), (3.46, 0.08, 5.0)]
    if fundamental_db is not None:
        g = 10 ** (fundamental_db / 20)
        parts += [(0.5, g, 1.5), (2.0, g, 1.5), (2.5, g, 1.5)]
    y = sum(a * np.sin(2 * np.pi * freq * r * t + r) * np.exp(-t * d) for r, a, d in parts)
    return 0.5 * y / np.abs(y).max()


@pytest.mark.parametrize("midi", [43, 46, 50, 54, 57, 64])
def test_two_partials_a_fifth_apart_are_read_at_the_lower(midi):
    """YIN reads the pair's period (an octave down) or, as the lower partial fades, the upper one (a
    fifth up); the note is the lower partial."""
    a = analyze(_fifth(midi_to_hz(midi)), SR)
    assert a.pitched and a.pitch_method == "partial"
    assert a.midi_note == midi and abs(a.cents) < 10.0


@pytest.mark.parametrize("midi", [55, 67])
def test_a_fifth_over_a_sounding_fundamental_keeps_the_period(midi):
    """With a line at half the lower partial (and more of its harmonics), the pair is part of a
    harmonic series and its period is the note."""
    a = analyze(_fifth(midi_to_hz(midi), fundamental_db=-10.0), SR)
    assert a.pitched and a.midi_note == midi - 12


def _struck(
    freq: float, ratios: tuple[float, ...], amps: tuple[float, ...], seconds: float = 1.5
) -> np.ndarray:
    """Decaying inharmonic partials ``ratios`` × ``freq`` (a struck bar, a membrane), higher ones decaying faster."""
    t = np.arange(round(seconds * SR)) / SR
    y = sum(a * np.sin(2 * np.pi * freq * r * t + r) * np.exp(-t * (1.0 + r)) for r, a in zip(ratios, amps))
    return 0.5 * y / np.abs(y).max()


_FREE_BAR = (
    1.0,
    2.756,
    5.404,
    8.933,
)  # the modes of a free-free bar (a glockenspiel, a xylophone before tuning)


@pytest.mark.parametrize(
    "midi, ratios, amps",
    [
        (50, _FREE_BAR, (1.0, 0.7, 0.5, 0.3)),
        (62, _FREE_BAR, (1.0, 0.7, 0.5, 0.3)),
        (71, _FREE_BAR, (1.0, 0.7, 0.5, 0.3)),
        (79, _FREE_BAR, (1.0, 0.5, 0.3, 0.2)),
        (55, _FREE_BAR, (1.0, 1.0, 1.0, 1.0)),
    ],
)
def test_an_inharmonic_spectrum_is_read_at_its_lowest_strong_partial(midi, ratios, amps):
    """YIN's period compromises between inharmonic partials, a semitone or two under the lowest (and the
    harmonic sum fits a series to the upper ones): the note is the lowest strong partial instead."""
    a = analyze(_struck(midi_to_hz(midi), ratios, amps), SR)
    assert a.pitched and a.pitch_method == "partial"
    assert a.midi_note == midi and abs(a.cents) < 5.0


@pytest.mark.parametrize("midi", [40, 64, 88])
def test_harmonic_tones_are_not_read_as_inharmonic(midi):
    """Partials on f0's grid (with a weak fundamental, or a YIN octave error) keep YIN's reading."""
    k = np.arange(1, 31)
    for amps in (1.0 / k, np.where(k == 1, 0.05, 1.0 / k)):
        a = analyze(_partials(midi_to_hz(midi), amps), SR)
        assert a.midi_note == midi and a.pitch_method == "yin"


def test_cents_deviation():
    a = analyze(0.5 * _tone(440.0 * 2 ** (30 / 1200), 0.8), SR)
    assert a.midi_note == 69
    assert a.cents == pytest.approx(30.0, abs=3.0)
    assert hz_to_midi(midi_to_hz(61.5)) == pytest.approx(61.5)


def test_other_sample_rates():
    for sr in (22050, 48000):
        y = _tone(midi_to_hz(57), 0.8, sr=sr)
        assert analyze(0.5 * y, sr).midi_note == 57


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_is_not_pitched(seed):
    rng = np.random.default_rng(seed)
    n = SR
    noise = rng.standard_normal(n) * _adsr(
        n, attack=0.005, decay=0.3, sustain=0.4, note_s=0.5, release=0.2, curve="exp"
    )
    a = analyze(0.2 * noise, SR)
    assert not a.pitched
    assert a.f0_hz is None and a.midi_note is None and a.cents == 0.0
    assert a.pitch_confidence < 0.3


def test_noise_burst_drum_is_not_pitched():
    rng = np.random.default_rng(7)
    t = np.arange(SR // 2) / SR
    hat = rng.standard_normal(len(t)) * np.exp(-t / 0.05)
    hat = sosfilt(butter(4, 6000, btype="high", fs=SR, output="sos"), hat)
    assert not analyze(hat, SR).pitched


def test_clips_shorter_than_a_pitch_window_are_unpitched():
    t = np.arange(441) / SR  # 10 ms
    a = analyze(0.5 * np.sin(2 * np.pi * 440 * t), SR)
    assert not a.pitched and a.midi_note is None
    assert a.duration_s == pytest.approx(0.01)


def test_pitch_track_of_silence_is_unvoiced():
    assert not pitch_track(np.zeros(SR // 2), SR).voiced.any()


def test_pitch_track_shapes_and_voicing():
    y = 0.5 * _tone(220.0, 0.5)
    tr = pitch_track(y, SR)
    n = len(tr.times_s)
    assert tr.f0_hz.shape == tr.aperiodicity.shape == tr.voiced.shape == tr.level_db.shape == (n,)
    assert tr.voiced.mean() > 0.9
    assert np.median(tr.f0_hz[tr.voiced]) == pytest.approx(220.0, rel=0.005)
    assert np.all(np.diff(tr.times_s) > 0)


def test_pitch_track_does_not_search_frames_too_quiet_to_be_voiced():
    # a loud tone, then the same tone 60 dB down: the quiet frames are reported, never searched
    loud, quiet = 0.5 * _tone(220.0, 0.5), 0.0005 * _tone(220.0, 0.5)
    tr = pitch_track(np.concatenate([loud, quiet]), SR)
    alone = pitch_track(np.concatenate([loud, np.zeros_like(quiet)]), SR)
    far = tr.level_db < tr.level_db.max() - 40.0
    assert far.sum() > 10 and (~far).sum() > 10
    assert np.all(tr.f0_hz[far] == 0.0) and np.all(tr.aperiodicity[far] == 1.0) and not tr.voiced[far].any()
    assert np.median(tr.f0_hz[tr.voiced]) == pytest.approx(220.0, rel=0.005)
    # the frames searched are the loud ones, and their results do not depend on the quiet ones
    head = tr.times_s < 0.45
    np.testing.assert_allclose(tr.f0_hz[head], alone.f0_hz[head], rtol=1e-9)
    np.testing.assert_array_equal(tr.voiced[head], alone.voiced[head])


# --- onset, note length -----------------------------------------------------------------------------------


RELEASES = [0.05, 0.15, 0.4, 0.8, 1.5]
NOTE_LENGTHS = [0.5, 1.0, 1.5]


@lru_cache(maxsize=4)
def _carrier(freq: float) -> np.ndarray:
    return _tone(freq, 3.0)


@pytest.mark.parametrize("curve", ["vital", "exp"])
@pytest.mark.parametrize("freq", [65.4, 220.0, 880.0])
def test_release_point_within_50_ms(freq, curve):
    errors = []
    for release in RELEASES:
        for note_s in NOTE_LENGTHS:
            x = _carrier(freq)
            env = _adsr(
                len(x), attack=0.01, decay=0.2, sustain=0.6, note_s=note_s, release=release, curve=curve
            )
            a = analyze((0.5 * x * env).astype(np.float32), SR)
            assert a.note_length_method == "release"
            errors.append(a.onset_s + a.note_length_s - note_s)
    errors = np.abs(errors)
    assert errors.max() <= 0.050, errors
    assert np.median(errors) <= 0.020


@pytest.mark.parametrize("note_s", [0.6, 1.0])
@pytest.mark.parametrize("release", [0.1, 0.3])
def test_key_up_during_a_decay_is_where_the_fall_speeds_up(note_s, release):
    """Released while still decaying (about 18 dB/s here): the release is not the decay's start."""
    x = _carrier(220.0)
    env = _adsr(len(x), attack=0.01, decay=1.5, sustain=0.05, note_s=note_s, release=release, curve="vital")
    a = analyze((0.5 * x * env).astype(np.float32), SR)
    assert a.note_length_method == "release"
    assert abs(a.onset_s + a.note_length_s - note_s) <= 0.05


def test_release_with_unison_beating_median_within_50_ms():
    """Detuned unison makes the sustain wobble; the median error must still be within 50 ms."""
    x = _tone(110.0, 3.0, detune_cents=(-7.0, 0.0, 6.0))
    errors = []
    for curve in ("vital", "exp"):
        for release in RELEASES:
            for note_s in NOTE_LENGTHS:
                env = _adsr(
                    len(x), attack=0.01, decay=0.2, sustain=0.6, note_s=note_s, release=release, curve=curve
                )
                a = analyze((0.5 * x * env).astype(np.float32), SR)
                errors.append(abs(a.onset_s + a.note_length_s - note_s))
    assert np.median(errors) <= 0.050
    assert np.mean(np.array(errors) <= 0.050) >= 0.8


@pytest.mark.parametrize("note_s", [1.2, 1.6])
def test_release_under_a_delay_is_the_dry_key_up_not_the_last_echo(note_s):
    """Echoes repeat the held note after the key-up, and the last one falls furthest."""
    x = _carrier(220.0)
    env = _adsr(len(x), attack=0.01, decay=0.1, sustain=0.5, note_s=note_s, release=0.05, curve="exp")
    dry = x * env
    wet = np.zeros_like(dry)
    lag = int(0.25 * SR)
    for k in range(1, 4):  # three echoes, 0.25 s apart, each 6 dB down: built up 0.75 s in
        wet[k * lag :] += 0.5**k * dry[: len(dry) - k * lag]
    a = analyze((0.4 * (dry + wet)).astype(np.float32), SR)
    assert a.note_length_method == "release"
    assert a.release_s == pytest.approx(note_s, abs=0.05)


def test_onset_after_leading_silence():
    x = _carrier(220.0)[:SR]
    env = _adsr(len(x), attack=0.005, decay=0.1, sustain=0.8, note_s=0.5, release=0.1, curve="exp")
    y = np.concatenate([np.zeros(int(0.3 * SR)), 0.5 * x * env])
    a = analyze(y, SR)
    assert a.onset_s == pytest.approx(0.3, abs=0.003)
    assert a.note_length_s == pytest.approx(0.5, abs=0.05)
    assert a.duration_s == pytest.approx(1.3)


def test_pluck_without_sustain_reports_its_fade():
    t = np.arange(2 * SR) / SR
    pluck = 0.5 * _tone(220.0, 2.0) * np.exp(-t / 0.15)  # -40 dB after 0.69 s, no sustained part
    a = analyze(pluck, SR)
    assert a.note_length_method == "fade"
    assert a.note_length_s == pytest.approx(0.15 * np.log(100), abs=0.05)


def test_note_held_to_the_end():
    x = _carrier(220.0)[: 2 * SR]
    env = _adsr(len(x), attack=0.02, decay=0.2, sustain=0.7, note_s=10.0, release=0.3, curve="exp")
    a = analyze(0.5 * x * env, SR)
    assert a.note_length_method == "held"
    assert a.onset_s + a.note_length_s == pytest.approx(2.0, abs=0.01)


def test_release_of_a_note_whose_dc_lasts_only_while_it_sounds():
    """An asymmetric waveform's DC stops with the note; subtracting the clip's mean (as loading
    does) then leaves an offset in the silence after it, which must not read as a held level."""
    x = _carrier(220.0)[: 3 * SR]
    env = _adsr(len(x), attack=0.01, decay=0.1, sustain=0.8, note_s=1.2, release=0.15, curve="exp")
    y = 0.5 * (x + 0.5) * env
    a = analyze(y - y.mean(), SR)
    assert a.note_length_method == "release"
    assert a.release_s == pytest.approx(1.2, abs=0.05)  # was 0.92 s before the DC blocker


def test_remove_dc_keeps_silence_silent_and_passes_the_tone():
    t = np.arange(2 * SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 110.0 * t)
    gated = np.where(t < 1.0, tone + 0.3, 0.0)  # DC only while the tone sounds
    y = remove_dc(gated, SR)
    assert np.max(np.abs(y[int(1.3 * SR) :])) < 1e-3  # mean subtraction would leave 0.15 here
    mid = slice(int(0.3 * SR), int(0.7 * SR))
    assert abs(float(np.mean(y[mid]))) < 1e-3
    assert np.max(np.abs(y[mid] - tone[mid])) < 0.01  # -0.1 dB at 25 Hz, nothing at 110 Hz
    const = remove_dc(tone + 0.25, SR)
    assert np.max(np.abs(const[mid] - tone[mid])) < 0.01


def test_a_constant_offset_alone_is_silent():
    with pytest.raises(SilentAudioError, match="constant offset"):
        analyze(np.full(SR, 0.3), SR)


def _track(f0: np.ndarray, aperiodicity: np.ndarray) -> PitchTrack:
    n = len(f0)
    return PitchTrack(
        times_s=np.arange(n) * 0.01,
        f0_hz=f0,
        aperiodicity=aperiodicity,
        voiced=aperiodicity < 0.25,
        level_db=np.full(n, -20.0),
    )


def test_weakly_periodic_f0_needs_enough_frames_that_agree():
    rng = np.random.default_rng(0)
    n = 100
    region = np.ones(n, dtype=bool)
    weak = np.full(n, 0.9)
    weak[::3] = 0.3  # a third of the frames weakly periodic
    f0 = 65.4 * 2.0 ** (rng.normal(0.0, 0.02, n))
    assert _weakly_periodic_f0(_track(f0, weak), region) == pytest.approx(65.4, rel=0.02)
    # too few weakly periodic frames
    few = np.full(n, 0.9)
    few[::10] = 0.3
    assert _weakly_periodic_f0(_track(f0, few), region) is None
    # a noise: enough frames below the limit, but their f0s scatter over octaves
    scattered = 2.0 ** rng.uniform(np.log2(30.0), np.log2(2000.0), n)
    assert _weakly_periodic_f0(_track(scattered, weak), region) is None
    # frames at or above the limit do not count
    assert _weakly_periodic_f0(_track(f0, np.full(n, WEAK_APERIODICITY)), region) is None


# --- loudness and velocity ---------------------------------------------------------------------------------


def test_loudness_and_peak():
    t = np.arange(SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    a = analyze(sine, SR)
    assert a.peak_db == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert a.loudness_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
    quiet = analyze(0.01 * sine, SR)
    assert quiet.loudness_db == pytest.approx(a.loudness_db - 40.0, abs=0.2)


def test_velocity_mapping():
    assert velocity_from_peak_db(-6.0) == DEFAULT_VELOCITY
    assert velocity_from_peak_db(0.0) == DEFAULT_VELOCITY
    assert velocity_from_peak_db(-26.0) == pytest.approx(DEFAULT_VELOCITY * 10 ** (-6 / 40))
    assert 1 / 127 <= velocity_from_peak_db(-200.0) < 0.1
    vels = [velocity_from_peak_db(db) for db in np.linspace(-80, 0, 41)]
    assert np.all(np.diff(vels) >= 0) and all(0 < v <= 1 for v in vels)
    t = np.arange(SR // 2) / SR
    assert analyze(0.5 * np.sin(2 * np.pi * 300 * t), SR).velocity == DEFAULT_VELOCITY


@pytest.mark.parametrize("gain_db", [0.0, -20.0, -40.0, -60.0])
def test_the_analysis_velocity_does_not_follow_the_level(gain_db):
    """A preset's level says nothing of its velocity (velocity_from_peak_db): every level gets the default."""
    t = np.arange(SR // 2) / SR
    y = 10 ** (gain_db / 20) * 0.9 * np.sin(2 * np.pi * 300 * t)
    assert analyze(y, SR).velocity == DEFAULT_VELOCITY


# --- several notes at once --------------------------------------------------------------------------------


def _chord(midis: tuple[int, ...], seconds: float = 1.0) -> np.ndarray:
    """Sawtooth-like harmonic tones (partials 1/k, 20 of them) at ``midis``, equal tempered, summed."""
    return sum(_partials(midi_to_hz(m), 1.0 / np.arange(1, 21), seconds) for m in midis)


@pytest.mark.parametrize("root", [48, 60, 72])
@pytest.mark.parametrize(
    ("intervals", "names"),
    [
        ((0, 4, 7), ("C", "E", "G")),  # major triad
        ((0, 3, 7), ("C", "D#", "G")),  # minor triad
        ((4, 7, 12), ("E", "G", "C")),  # its first inversion
        ((0, 7), ("C", "G")),  # a power chord
        ((0, 4), ("C", "E")),
    ],
)
def test_a_chord_of_harmonic_tones_is_several_notes(root, intervals, names):
    chord = _chord(tuple(root + i for i in intervals))
    notes = simultaneous_notes(chord, SR)
    assert len(notes) == len(intervals)
    for f, midi in zip(notes, sorted(root + i for i in intervals)):
        assert f == pytest.approx(midi_to_hz(midi), rel=0.01)
    labels = ", ".join(f"{name}{root // 12 - 1 + i // 12}" for name, i in zip(names, intervals))
    assert polyphony_warning(chord, SR) == (
        f"polyphony: this sounds like several notes at once (about {len(intervals)}: {labels}); only one "
        "note is matched: the preset found plays the whole sound from one key. Hint: record or export one "
        "note on its own and match that."
    )


def test_a_short_chord_stab_is_several_notes():
    assert len(simultaneous_notes(_chord((60, 64, 67), seconds=0.15), SR)) == 3


def _church_bell(freq: float) -> np.ndarray:
    """A bell's partials: hum, prime, minor-third tierce, quint, nominal and above (× the prime)."""
    ratios = (0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.67, 3.0, 4.0)
    return _struck(freq, ratios, (1.0, 0.8, 0.7, 0.5, 1.0, 0.4, 0.3, 0.3, 0.2))


_HAMMOND_FULL = np.array([1.0, 1.0, 0.8, 0.8, 0.0, 0.6, 0.0, 0.5, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.3])


@pytest.mark.parametrize("midi", [36, 48, 60, 72])
@pytest.mark.parametrize(
    "sound",
    [
        "harmonic",
        "detuned saw",
        "wide unison",
        "two voices 76 cents apart",
        "square",
        "weak fundamental",
        "organ with a 16' stop",
        "organ drawbars",
        "organ without the 16'",
        "church bell",
        "free bar",
        "timpani",
    ],
)
def test_one_note_is_not_several(midi, sound):
    f = midi_to_hz(midi)
    k = np.arange(1, 31)
    y = {
        "harmonic": lambda: _partials(f, 1.0 / k),
        "detuned saw": lambda: _tone(f, 1.0, detune_cents=(-9.0, 0.0, 8.0)),
        "wide unison": lambda: _tone(f, 1.0, detune_cents=(-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)),
        "two voices 76 cents apart": lambda: _tone(
            f, 1.0, detune_cents=(-38.0, 38.0)
        ),  # Vital's default detune
        "square": lambda: _tone(f, 1.0, odd_only=True),
        "weak fundamental": lambda: _partials(f, np.where(k == 1, 0.0, 1.0 / k)),
        "organ with a 16' stop": lambda: _with_sub(f, _DRAWBAR, 0.0),  # 16', 8', 4', 2', 1'
        "organ drawbars": lambda: _partials(f / 2, _HAMMOND_FULL),  # 16', 8', 5 1/3', 4', 2 2/3', 2' ...
        "organ without the 16'": lambda: _partials(f / 2, np.where(np.arange(16) == 0, 0.0, _HAMMOND_FULL)),
        "church bell": lambda: _church_bell(f),
        "free bar": lambda: _struck(f, _FREE_BAR, (1.0, 0.7, 0.5, 0.3)),
        "timpani": lambda: _fifth(f),
    }[sound]()
    assert simultaneous_notes(y, SR) == ()
    assert polyphony_warning(y, SR) is None


@pytest.mark.parametrize("seed", [0, 1])
def test_noise_and_short_clips_are_not_several_notes(seed):
    rng = np.random.default_rng(seed)
    assert (
        simultaneous_notes(
            rng.standard_normal(SR)
            * _adsr(SR, attack=0.005, decay=0.3, sustain=0.4, note_s=0.5, release=0.2, curve="exp"),
            SR,
        )
        == ()
    )
    assert simultaneous_notes(_chord((60, 64, 67), seconds=0.09), SR) == ()  # under 0.1 s: not read
    assert simultaneous_notes(np.zeros(SR), SR) == ()


# --- speed and errors ----------------------------------------------------------------------------------------


def test_deterministic():
    y = 0.5 * _carrier(220.0)
    assert analyze(y, SR) == analyze(y.copy(), SR)


@pytest.mark.parametrize(
    ("samples", "error", "text"),
    [
        (np.zeros(0), EmptyAudioError, "no samples"),
        (np.zeros(SR), SilentAudioError, "silent"),
        (np.zeros((2, 100)), AudioError, "mono"),
        (np.array([0.1, np.nan, 0.2]), AudioError, "NaN"),
    ],
)
def test_bad_input(samples, error, text):
    with pytest.raises(error, match=text):
        analyze(samples, SR)
