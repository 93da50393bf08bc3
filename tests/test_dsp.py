"""The shared DSP module: each building block gives the values its callers rely on."""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import pytest
import scipy.signal

from synthmatch import dsp
from synthmatch.audio.analysis import pitch_track
from synthmatch.audio.features import LogMelConfig, log_mel
from synthmatch.audio.pitch import to_pitch_rate
from synthmatch.data.stats import STAT_NAMES, render_stats

SR = 44100


@lru_cache(maxsize=8)
def _sine(freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 1.0) -> np.ndarray:
    out = amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)
    out.setflags(write=False)
    return out


# --- decibels ------------------------------------------------------------------------------------------------


def test_amp_and_power_to_db_values():
    assert dsp.amp_to_db(1.0) == 0.0
    assert dsp.amp_to_db(-0.1) == pytest.approx(-20.0)
    assert dsp.amp_to_db(0.0) == pytest.approx(-240.0)  # floored at AMP_EPS, finite
    assert dsp.power_to_db(0.01) == pytest.approx(-20.0)
    assert dsp.power_to_db(0.0) == pytest.approx(-240.0)  # POWER_EPS = AMP_EPS ** 2
    assert dsp.power_to_db(0.0, eps=1e-10) == pytest.approx(-100.0)
    amps = np.array([1e-6, 0.003, 0.5, 2.0])
    np.testing.assert_allclose(dsp.amp_to_db(amps), dsp.power_to_db(amps**2), atol=1e-9)
    np.testing.assert_allclose(dsp.db_to_amp(dsp.amp_to_db(amps)), amps, rtol=1e-12)
    np.testing.assert_allclose(dsp.db_to_power(dsp.power_to_db(amps**2)), amps**2, rtol=1e-12)


def test_db_ref_floors_before_dividing():
    """``ref`` is the level of 0 dB; a silent frame reads eps relative to it, as describe_audio expects."""
    rms = np.array([0.5, 0.25, 0.0])
    db = dsp.amp_to_db(rms, ref=0.5)
    np.testing.assert_allclose(db[:2], [0.0, -6.0206], atol=1e-4)
    assert db[2] == pytest.approx(20 * np.log10(1e-12 / 0.5))
    assert dsp.power_to_db(np.float32(0.5), ref=2.0) == pytest.approx(-6.0206, abs=1e-4)


def test_power_to_db_keeps_float32():
    """Spectrograms in float32 stay float32 (the metrics and features rely on it)."""
    x = np.array([1.0, 0.1, 0.0], dtype=np.float32)
    assert dsp.power_to_db(x, eps=1e-10).dtype == np.float32
    assert dsp.power_to_db(x.astype(np.float64)).dtype == np.float64


# --- framing and the envelope follower ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "frame", "hop"), [(1000, 64, 16), (1001, 65, 7), (10, 64, 16)])
def test_frame_signal_matches_librosa_frames(n, frame, hop):
    x = np.random.default_rng(n).standard_normal(n)
    got = dsp.frame_signal(x, frame_length=frame, hop_length=hop, center=True)
    assert got.shape == (1 + (n - frame % 2) // hop, frame)
    padded = np.pad(x, (frame // 2, frame // 2))
    if len(padded) >= frame:
        np.testing.assert_array_equal(got, librosa.util.frame(padded, frame_length=frame, hop_length=hop).T)
    assert not got.flags.writeable


@pytest.mark.parametrize(("frame", "hop"), [(1024, 256), (2205, 1102), (4, 1)])
def test_frame_rms_is_the_centred_rms(frame, hop):
    """The running-sum RMS equals the RMS of each centred, zero-padded frame (librosa.feature.rms)."""
    x = np.random.default_rng(frame).standard_normal(9000)
    got = dsp.frame_rms(x, frame_length=frame, hop_length=hop)
    half = frame // 2
    padded = np.pad(x, (half, frame - half))
    want = np.array([np.sqrt(np.mean(padded[s : s + frame] ** 2)) for s in range(0, len(x) + 1, hop)])
    assert got.shape == (1 + len(x) // hop,)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    if frame % 2 == 0:
        ref = librosa.feature.rms(y=x, frame_length=frame, hop_length=hop, pad_mode="constant")[0]
        np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_frame_rms_levels():
    assert dsp.frame_rms(np.full(4096, 0.5), frame_length=256, hop_length=64)[4:-4] == pytest.approx(0.5)
    sine = dsp.frame_rms(_sine(441.0), frame_length=1000, hop_length=250)[4:-4]
    assert sine == pytest.approx(1 / np.sqrt(2), rel=1e-6)  # whole periods in each frame


def test_render_stats_use_the_envelope_follower():
    """data.stats reads the attack from frame_rms (1024 / 256): a linear 200 ms ramp takes 160 ms 10%->90%."""
    t = np.arange(SR) / SR
    x = np.minimum(t / 0.2, 1.0) * _sine(441.0)
    stats = render_stats(np.stack([x, x]), sample_rate=SR, note_seconds=0.9)
    env = dsp.frame_rms(x, frame_length=1024, hop_length=256)
    want = (int(np.argmax(env >= 0.9 * env.max())) - int(np.argmax(env >= 0.1 * env.max()))) * 256 / SR
    assert stats[STAT_NAMES.index("attack_s")] == pytest.approx(want)
    assert stats[STAT_NAMES.index("attack_s")] == pytest.approx(0.16, abs=0.02)
    assert stats[STAT_NAMES.index("peak_db")] == pytest.approx(0.0, abs=1e-3)


# --- STFT ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("win", "n_fft", "periodic"), [(1024, 1024, True), (600, 1024, True), (1024, 1024, False)]
)
def test_hann_window(win, n_fft, periodic):
    w = dsp.hann_window(win, n_fft=n_fft, periodic=periodic)
    assert w.dtype == np.float32 and w.shape == (n_fft,) and not w.flags.writeable
    core = scipy.signal.get_window("hann", win, fftbins=periodic)
    left = (n_fft - win) // 2
    np.testing.assert_allclose(w[left : left + win], core, atol=1e-7)
    assert not w[:left].any() and not w[left + win :].any()


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_stft_matches_librosa(pad_mode):
    x = np.random.default_rng(3).standard_normal(5000).astype(np.float32)
    got = dsp.stft(x, n_fft=512, hop_length=128, pad_mode=pad_mode)
    want = librosa.stft(x, n_fft=512, hop_length=128, window="hann", center=True, pad_mode=pad_mode).T
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-4)
    np.testing.assert_allclose(dsp.power_spectrum(got), np.abs(got) ** 2, rtol=1e-5)


# --- mel filterbanks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("norm", "fmin", "fmax"), [("slaney", 0.0, None), (None, 20.0, None), (None, 30.0, 16000.0)]
)
def test_mel_filterbank_is_librosas(norm, fmin, fmax):
    """MSS-mel and the mel loss use Slaney-normalised filters, the log-mel features unit-peak ones."""
    fb = dsp.mel_filterbank(sample_rate=SR, n_fft=2048, n_mels=64, fmin=fmin, fmax=fmax, norm=norm)
    assert fb.dtype == np.float32 and fb.shape == (64, 1025)
    want = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=64, fmin=fmin, fmax=fmax, norm=norm)
    np.testing.assert_array_equal(fb.toarray(), want)
    if norm is None:
        assert fb.max(axis=1).toarray().max() <= 1.0
    assert dsp.mel_filterbank(sample_rate=SR, n_fft=2048, n_mels=64, fmin=fmin, fmax=fmax, norm=norm) is fb


def test_log_mel_reads_a_full_scale_sine_near_0_db():
    """log_mel's unit-peak filters: a full-scale sine reads about 0 dB in its band."""
    mel = log_mel(_sine(1000.0), LogMelConfig())
    assert mel.max() == pytest.approx(0.0, abs=1.5)


def test_kaldi_mel_filterbank():
    """Combes' MFCC filterbank: HTK mel spacing, unit-peak triangles, nothing on the Nyquist bin."""
    n_fft, n_mels = 1024, 128
    fb = dsp.kaldi_mel_filterbank(sample_rate=SR, n_fft=n_fft, n_mels=n_mels).toarray()
    assert fb.dtype == np.float64 and fb.shape == (n_mels, n_fft // 2 + 1)
    assert not fb[:, -1].any()
    assert fb.max() <= 1.0 and fb[40:].max(axis=1).min() > 0.5  # the low filters are narrower than a bin

    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f) / 700.0)

    delta = mel(SR / 2) / (n_mels + 1)
    centers_hz = 700.0 * np.expm1(delta * np.arange(1, n_mels + 1) / 1127.0)
    peak_bins = fb.argmax(axis=1)
    upper = peak_bins > 20  # the low filters are narrower than a bin
    assert np.all(np.abs(peak_bins * SR / n_fft - centers_hz)[upper] <= SR / n_fft)
    assert np.all(np.diff(peak_bins) >= 0)


# --- YIN -----------------------------------------------------------------------------------------------------


def _yin_frames(x: np.ndarray, window: int, length: int, hop: int = 512) -> np.ndarray:
    return np.ascontiguousarray(dsp.frame_signal(x, frame_length=length, hop_length=hop, center=False))


@pytest.mark.parametrize("f0", [55.0, 220.0, 1234.5])
def test_yin_finds_a_sine(f0):
    x = to_pitch_rate(_sine(f0, 0.5), SR)
    frames = _yin_frames(x, 1024, 1024 + 882 + 1)
    hz, aperiodicity = dsp.yin(frames, sample_rate=22050, window=1024, tau_min=5, tau_max=882)
    assert np.all(np.abs(1200 * np.log2(hz / f0)) < 3.0)  # the parabola's error grows as the lag shortens
    assert np.all(aperiodicity < 0.02)


def test_yin_calls_noise_aperiodic():
    x = np.random.default_rng(0).standard_normal(22050)
    _, aperiodicity = dsp.yin(
        _yin_frames(x, 1024, 1907), sample_rate=22050, window=1024, tau_min=5, tau_max=882
    )
    assert np.median(aperiodicity) > 0.5


def test_pitch_track_is_dsp_yin_on_its_loud_frames():
    """The analysis's track is the one YIN, bit for bit, on its 1907-sample frames (hop 256)."""
    x = to_pitch_rate(_sine(330.0, 0.4, amp=0.5), SR)
    track = pitch_track(_sine(330.0, 0.4, amp=0.5), SR)
    frames = dsp.frame_signal(x, frame_length=1907, hop_length=256, center=False)
    hz, aperiodicity = dsp.yin(frames, sample_rate=22050, window=1024, tau_min=5, tau_max=882)
    np.testing.assert_array_equal(track.f0_hz, hz)
    np.testing.assert_array_equal(track.aperiodicity, aperiodicity)
    sums = dsp.running_sum_squares(frames)
    again = dsp.yin(frames, sample_rate=22050, window=1024, tau_min=5, tau_max=882, sum_squares=sums)
    np.testing.assert_array_equal(again[0], hz)


def test_yin_rejects_bad_settings():
    frames = np.zeros((2, 100))
    with pytest.raises(ValueError, match="window"):
        dsp.yin(frames, sample_rate=22050, window=64, tau_min=2, tau_max=40)
    with pytest.raises(ValueError, match="tau_min"):
        dsp.yin(frames, sample_rate=22050, window=32, tau_min=1, tau_max=40)
    with pytest.raises(ValueError, match="sum_squares"):
        dsp.yin(frames, sample_rate=22050, window=32, tau_min=2, tau_max=40, sum_squares=np.zeros((2, 100)))
    hz, aperiodicity = dsp.yin(np.zeros((0, 100)), sample_rate=22050, window=32, tau_min=2, tau_max=40)
    assert hz.shape == aperiodicity.shape == (0,)


def test_the_slaney_mel_filterbank_is_librosas_bit_for_bit():
    import itertools

    import librosa

    from synthmatch.dsp import mel_filterbank

    for sr, n_fft, n_mels, fmin, fmax, norm in itertools.product(
        [22050, 44100], [1024, 2048], [32, 64, 96], [0.0, 20.0], [None, 8000.0], ["slaney", None]
    ):
        ours = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, norm=norm)
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, norm=norm)
        assert np.array_equal(ours.toarray(), ref.astype(np.float32)), (sr, n_fft, n_mels, fmin, fmax, norm)
