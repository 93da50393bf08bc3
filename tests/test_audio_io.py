"""Loading audio: every format round-trips, channels mix to mono, rates convert, problems are explained."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthmatch.audio.io import (
    CLIP_MIN_RUN,
    MIN_SOUND_S,
    SUPPORTED_EXTENSIONS,
    AudioFileNotFoundError,
    load_audio,
    save_wav,
)
from synthmatch.errors import (
    AudioError,
    AudioTooLongError,
    AudioTooShortError,
    CorruptAudioError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedFormatError,
)

SR = 44100


@lru_cache(maxsize=16)
def _sine(freq: float = 440.0, seconds: float = 0.5, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    x.setflags(write=False)
    return x


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def _can_write(fmt: str, subtype: str, sr: int, tmp_path: Path) -> bool:
    try:
        sf.write(tmp_path / f"probe.{fmt.lower()}", np.zeros(sr // 10), sr, format=fmt, subtype=subtype)
    except Exception:
        return False
    return True


LOSSLESS = [
    ("WAV", "PCM_U8", "wav", 1.5 / 128),
    ("WAV", "PCM_16", "wav", 1.5 / 32768),
    ("WAV", "PCM_24", "wav", 1e-6),
    ("WAV", "PCM_32", "wav", 1e-6),
    ("WAV", "FLOAT", "wav", 1e-6),
    ("WAV", "DOUBLE", "wav", 1e-6),
    ("FLAC", "PCM_16", "flac", 1.5 / 32768),
    ("FLAC", "PCM_24", "flac", 1e-6),
    ("AIFF", "PCM_S8", "aif", 1.5 / 128),
    ("AIFF", "PCM_16", "aiff", 1.5 / 32768),
    ("AIFF", "PCM_24", "aiff", 1e-6),
    ("AIFF", "FLOAT", "aiff", 1e-6),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "atol"), LOSSLESS)
def test_lossless_round_trip(tmp_path, fmt, subtype, ext, atol):
    x = _sine()
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x, SR, format=fmt, subtype=subtype)
    a = load_audio(path, trim=False)
    assert a.samples.dtype == np.float32 and a.samples.shape == x.shape
    assert a.sample_rate == SR and a.original_sample_rate == SR and a.channels == 1
    assert a.source == str(path) and a.trimmed_start_s == 0.0 and a.warnings == ()
    assert a.duration_s == pytest.approx(0.5)
    decoded, _ = sf.read(path, dtype="float64")
    assert np.max(np.abs(decoded - x)) <= atol  # the format's quantisation, nothing more
    np.testing.assert_allclose(a.samples, decoded - decoded.mean(), atol=1e-6)  # only DC removal


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus"), ("MP3", "MPEG_LAYER_III", "mp3")],
)
def test_lossy_round_trip_keeps_pitch_and_level(tmp_path, fmt, subtype, ext):
    sr_in = 48000 if subtype == "OPUS" else SR  # Opus only runs at 8/12/16/24/48 kHz
    if not _can_write(fmt, subtype, sr_in, tmp_path):
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}")
    x = _sine(1000.0, 1.0, sr_in)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x, sr_in, format=fmt, subtype=subtype)
    a = load_audio(path, trim=False)
    assert a.sample_rate == SR and a.original_sample_rate == sr_in
    assert _peak_hz(a.samples, SR) == pytest.approx(1000.0, abs=3.0)
    rms_db = 20 * np.log10(np.sqrt(np.mean(a.samples[SR // 10 : -SR // 10] ** 2)))
    assert rms_db == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=1.0)


def test_supported_extensions_cover_the_advertised_formats():
    assert set(SUPPORTED_EXTENSIONS.values()) == {"WAV", "FLAC", "OGG", "MP3", "AIFF"}


@pytest.mark.parametrize("channels", [2, 4, 6])
def test_multichannel_mixes_to_the_mean(tmp_path, channels):
    x = _sine()
    gains = np.linspace(1.0, 0.25, channels)
    data = np.stack([g * x for g in gains], axis=1)
    path = tmp_path / "multi.wav"
    sf.write(path, data, SR, subtype="FLOAT")
    a = load_audio(path, trim=False)
    assert a.channels == channels
    np.testing.assert_allclose(a.samples, gains.mean() * (x - x.mean()), atol=1e-6)


def test_array_input_channels_first_and_integer(tmp_path):
    x = _sine()
    stereo_first = np.stack([x, 0.5 * x])  # (2, n), as vita and librosa return
    a = load_audio((stereo_first, SR), trim=False)
    assert a.channels == 2 and a.source == "<array>"
    np.testing.assert_allclose(a.samples, 0.75 * (x - x.mean()), atol=1e-6)
    ints = np.round(x * 32767).astype(np.int16)
    b = load_audio((ints, SR), trim=False)
    np.testing.assert_allclose(b.samples, x - x.mean(), atol=1e-4)


@pytest.mark.parametrize("orig_sr", [8000, 22050, 32000, 48000, 96000])
def test_resampling_preserves_frequency(orig_sr):
    freq = 1000.0 if orig_sr > 8000 else 700.0
    x = _sine(freq, 1.0, orig_sr)
    a = load_audio((x, orig_sr), trim=False)
    assert a.sample_rate == SR and a.original_sample_rate == orig_sr
    assert len(a.samples) == pytest.approx(SR, abs=2)
    assert _peak_hz(a.samples, SR) == pytest.approx(freq, abs=1.0)
    # the amplitude survives too (away from the edges)
    assert np.max(np.abs(a.samples[1000:-1000])) == pytest.approx(0.5, abs=0.01)


def test_other_target_rate():
    a = load_audio((_sine(1000.0, 1.0, SR), SR), sample_rate=22050, trim=False)
    assert a.sample_rate == 22050 and len(a.samples) == 22050
    assert _peak_hz(a.samples, 22050) == pytest.approx(1000.0, abs=1.0)


def test_dc_offset_is_removed():
    x = _sine() + 0.3
    a = load_audio((x, SR), trim=False)
    assert abs(float(a.samples.mean())) < 1e-6
    assert np.max(np.abs(a.samples)) == pytest.approx(0.5, abs=0.01)


def test_an_offset_only_the_note_has_stays_out_of_the_silence_after_it():
    # an asymmetric sample: the note carries +0.05 of DC, the silence after it none
    note = _sine() + 0.05
    x = np.concatenate([note, np.zeros(SR)])
    a = load_audio((x, SR), trim=False)
    tail = a.samples[len(note) + SR // 100 :]
    assert np.max(np.abs(tail)) < 1e-6  # subtracting the mean would leave -0.0167 there
    body = a.samples[SR // 100 : len(note) - SR // 100]
    assert abs(float(body.mean())) < 1e-3


def test_clipping_is_detected_and_reported_as_a_warning(tmp_path):
    clipped = np.clip(3.0 * _sine(), -1.0, 1.0)
    path = tmp_path / "clipped.wav"
    sf.write(path, clipped, SR, subtype="PCM_16")
    a = load_audio(path, trim=False)
    expected = np.mean(np.abs(clipped) >= 0.999)
    assert a.clipped_fraction == pytest.approx(expected, rel=0.05)
    assert any("clipping" in w and "Hint" in w for w in a.warnings)


def test_a_float_file_above_full_scale_is_hot_not_clipped(tmp_path):
    hot = 3.0 * np.array(_sine())  # peak 1.5; float keeps the peaks: nothing was cut off
    sf.write(tmp_path / "hot.wav", hot.astype(np.float32), SR, subtype="FLOAT")
    a = load_audio(tmp_path / "hot.wav")
    assert a.clipped_fraction == 0.0
    assert [w.split(":")[0] for w in a.warnings] == ["level"]
    cut = np.clip(hot, -1.0, 1.0)  # a float file clipped at full scale upstream
    sf.write(tmp_path / "cut.wav", cut.astype(np.float32), SR, subtype="FLOAT")
    b = load_audio(tmp_path / "cut.wav")
    assert b.clipped_fraction == pytest.approx(np.mean(np.abs(cut) >= 0.999), rel=0.05)
    assert [w.split(":")[0] for w in b.warnings] == ["clipping"]


def test_isolated_full_scale_samples_are_not_clipping():
    x = 0.5 * np.array(_sine())
    x[::1000] = 1.0  # single samples at full scale: peaks, not a clipped waveform
    x[500 : 500 + CLIP_MIN_RUN - 1] = -1.0
    a = load_audio((x, SR), trim=False)
    assert a.clipped_fraction == 0.0
    assert not any("clipping" in w for w in a.warnings)


def test_clean_signal_has_no_warnings():
    a = load_audio((_sine(), SR))
    assert a.clipped_fraction == 0.0 and a.warnings == ()


def test_trimming_keeps_the_attack():
    tone = np.array(_sine(440.0, 1.0))
    x = np.concatenate([np.zeros(SR // 2), tone, np.zeros(SR // 2)])
    a = load_audio((x, SR))
    # 5 ms of pre-roll before the first loud sample and 10 ms after the last one
    assert a.trimmed_start_s == pytest.approx(0.5 - 0.005, abs=2 / SR)
    assert a.duration_s == pytest.approx(1.0 + 0.005 + 0.010, abs=3 / SR)
    first = int(np.argmax(np.abs(a.samples) > 1e-3))
    assert first == pytest.approx(round(0.005 * SR), abs=3)
    untrimmed = load_audio((x, SR), trim=False)
    assert untrimmed.duration_s == pytest.approx(2.0) and untrimmed.trimmed_start_s == 0.0
    assert a.trimmed_end_s == pytest.approx(0.5 - 0.010, abs=3 / SR)
    assert untrimmed.trimmed_end_s == 0.0


def test_with_trimmed_end_puts_back_the_silence_after_the_sound():
    tone = np.array(_sine(440.0, 1.0))
    x = np.concatenate([np.zeros(SR // 2), tone, np.zeros(SR)])
    a = load_audio((x, SR))
    padded = a.with_trimmed_end()
    # the clip runs to where the source ended; its start stays trimmed
    assert len(padded) == pytest.approx(len(x) - round(a.trimmed_start_s * SR), abs=2)
    np.testing.assert_array_equal(padded[: len(a.samples)], a.samples)
    assert not np.any(padded[len(a.samples) :])
    assert padded.dtype == a.samples.dtype
    untrimmed = load_audio((x, SR), trim=False)
    assert untrimmed.with_trimmed_end() is untrimmed.samples


@pytest.mark.parametrize("source_sr", [8000, 22050, 48000, 96000])
def test_trimmed_end_is_measured_at_the_source_rate(source_sr):
    # 0.5 s silence, a 1 s tone, 0.5 s silence, at a rate other than the target's
    t = np.arange(source_sr) / source_sr
    x = np.concatenate(
        [np.zeros(source_sr // 2), 0.5 * np.sin(2 * np.pi * 330.0 * t), np.zeros(source_sr // 2)]
    )
    a = load_audio((x, source_sr), sample_rate=SR)
    assert a.trimmed_end_s == pytest.approx(0.5 - 0.010, abs=3 / source_sr)
    padded = a.with_trimmed_end()  # upsampled sources made this negative, and crashed
    assert len(padded) / SR == pytest.approx(2.0 - a.trimmed_start_s, abs=4 / source_sr)
    untrimmed = load_audio((x, source_sr), sample_rate=SR, trim=False)
    assert untrimmed.trimmed_end_s == 0.0 and untrimmed.with_trimmed_end() is untrimmed.samples


def test_trim_threshold_is_relative_to_the_peak():
    tone = np.array(_sine(440.0, 0.5))
    quiet = 10 ** (-50 / 20) * np.array(_sine(440.0, 0.5, amp=1.0))  # 44 dB below the tone
    x = np.concatenate([quiet, tone])
    assert load_audio((x, SR), trim_db=60).duration_s == pytest.approx(1.0, abs=0.02)
    assert load_audio((x, SR), trim_db=30).duration_s == pytest.approx(0.5 + 0.005, abs=0.002)


# --- errors: each names the problem and the fix ----------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioFileNotFoundError, match="no such file") as info:
        load_audio(path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, AudioError)
    assert str(path) in str(info.value) and "Hint" in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match=r"empty \(0 bytes\).*Hint"):
        load_audio(path)


def test_file_with_zero_frames(tmp_path):
    path = tmp_path / "noframes.wav"
    sf.write(path, np.zeros((0, 1)), SR)
    with pytest.raises(EmptyAudioError, match=r"no samples.*Hint"):
        load_audio(path)


def test_text_file_is_unsupported(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not audio")
    with pytest.raises(UnsupportedFormatError) as info:
        load_audio(path)
    msg = str(info.value)
    assert "'.txt' is not a supported audio format" in msg
    assert "WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF" in msg and "Hint" in msg


def test_midi_file_is_unsupported_with_a_render_hint(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00")
    with pytest.raises(UnsupportedFormatError, match=r"MIDI file holds notes, not sound.*render the MIDI"):
        load_audio(path)


def test_corrupt_wav_header(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 2)
    with pytest.raises(CorruptAudioError) as info:
        load_audio(path)
    msg = str(info.value)
    assert str(path) in msg and "cannot be decoded as WAV" in msg and "Hint" in msg


def test_garbage_with_an_audio_extension(tmp_path):
    path = tmp_path / "noise.flac"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(CorruptAudioError, match="cannot be decoded as FLAC"):
        load_audio(path)


@pytest.mark.parametrize("level", [0.0, 10 ** (-100 / 20)])
def test_silent_file(tmp_path, level):
    path = tmp_path / "silence.wav"
    sf.write(path, level * np.array(_sine(amp=1.0)), SR, subtype="FLOAT")
    with pytest.raises(SilentAudioError, match=r"silent \(peak .* dBFS.*-90 dBFS.*Hint"):
        load_audio(path)


def test_pure_dc_is_silent():
    with pytest.raises(SilentAudioError):
        load_audio((np.full(SR, 0.4), SR))


def test_channels_cancelling_in_the_mix_are_explained():
    x = np.array(_sine())
    with pytest.raises(SilentAudioError, match="cancel when mixed to mono"):
        load_audio((np.stack([x, -x], axis=1), SR))


def test_non_finite_samples(tmp_path):
    x = np.array(_sine())
    x[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(CorruptAudioError, match=r"NaN or infinite.*Hint"):
        load_audio(path)
    x[100] = np.inf
    with pytest.raises(CorruptAudioError, match="NaN or infinite"):
        load_audio((x, SR))


def test_too_long(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.array(_sine(440.0, 2.0)), SR)
    with pytest.raises(AudioTooLongError) as info:
        load_audio(path, max_seconds=1.0)
    msg = str(info.value)
    assert "2.0 s" in msg and "limit is 1 s" in msg and "--max-seconds" in msg and "max_seconds" in msg
    assert load_audio(path, max_seconds=3.0).duration_s == pytest.approx(2.0, abs=0.02)


def test_limit_applies_after_trimming():
    x = np.concatenate([np.zeros(2 * SR), np.array(_sine(440.0, 0.5))])
    assert load_audio((x, SR), max_seconds=1.0).duration_s < 1.0
    with pytest.raises(AudioTooLongError):
        load_audio((x, SR), max_seconds=1.0, trim=False)


# --- too short, truncated, surround, chords ----------------------------------------------------------------


def _assert_too_short(info: pytest.ExceptionInfo, *, lasts: str) -> str:
    msg = str(info.value)
    assert f"the sound lasts only {lasts}" in msg
    assert "the minimum is 50 ms" in msg and "no attack, decay or pitch to read" in msg
    assert "Hint: " in msg and "record or export at least 50 ms of the note" in msg
    return msg


def test_min_sound_is_50_ms():
    assert MIN_SOUND_S == 0.05


def test_a_78_frame_file_is_too_short(tmp_path):
    path = tmp_path / "tiny.wav"
    sf.write(path, np.array(_sine())[:78], SR)
    with pytest.raises(AudioTooShortError) as info:
        load_audio(path)
    msg = _assert_too_short(info, lasts="1.8 ms")
    assert msg.startswith(str(path)) and "truncated" not in msg  # its header promises 78 frames: whole


@pytest.mark.parametrize("trim", [True, False])
def test_a_5_ms_blip_is_too_short_trimmed_or_not(tmp_path, trim):
    blip = np.concatenate([np.zeros(SR // 10), np.array(_sine(1000.0, 0.005)), np.zeros(SR // 10)])
    sf.write(tmp_path / "blip.wav", blip, SR, subtype="FLOAT")
    with pytest.raises(AudioTooShortError) as info:
        load_audio(tmp_path / "blip.wav", trim=trim)  # the sound is measured, not the silence around it
    _assert_too_short(info, lasts="5.0 ms")
    assert isinstance(info.value, AudioError)


def test_the_shortest_accepted_sound_is_min_sound_s():
    for seconds, ok in [(0.04, False), (0.06, True)]:
        x = np.concatenate([np.zeros(SR // 10), np.array(_sine(440.0, seconds)), np.zeros(SR // 10)])
        if ok:
            assert seconds < load_audio((x, SR)).duration_s < seconds + 0.025  # with pre- and post-roll
        else:
            with pytest.raises(AudioTooShortError):
                load_audio((x, SR))


def _cut(path: Path, n_bytes: int) -> Path:
    out = path.with_name(f"cut{path.suffix}")
    out.write_bytes(path.read_bytes()[:n_bytes])
    return out


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"), [("WAV", "PCM_16", "wav"), ("WAV", "FLOAT", "wav"), ("AIFF", "PCM_24", "aiff")]
)
def test_a_truncated_file_is_named_as_such(tmp_path, fmt, subtype, ext):
    whole = tmp_path / f"whole.{ext}"
    sf.write(whole, np.array(_sine(440.0, 1.0)), SR, format=fmt, subtype=subtype)
    assert not any(w.startswith("truncated") for w in load_audio(whole).warnings)
    # cut after 200 bytes: a few frames are left, far too short to match
    with pytest.raises(AudioTooShortError) as info:
        load_audio(_cut(whole, 200))
    msg = str(info.value)
    assert (
        "the file looks truncated (its header promises 44100 frames (1.000 s) of audio, but it holds only"
        in msg
    )
    assert "Hint: export the whole file again, and record or export at least 50 ms of the note" in msg
    # cut in the middle: matched as far as it goes, with a warning that says so
    half = load_audio(_cut(whole, whole.stat().st_size // 2))
    assert half.duration_s == pytest.approx(0.5, abs=0.01)
    (warning,) = [w for w in half.warnings if w.startswith("truncated")]
    assert "its header promises 44100 frames (1.000 s) of audio, but it holds only" in warning
    assert "Hint: export or copy the file again" in warning


def test_a_streamed_wav_without_sizes_is_not_truncated(tmp_path):
    path = tmp_path / "streamed.wav"
    sf.write(path, np.array(_sine()), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    at = raw.find(b"data")
    raw[4:8] = raw[at + 4 : at + 8] = b"\xff\xff\xff\xff"  # what a writer to a pipe leaves
    path.write_bytes(bytes(raw))
    a = load_audio(path, trim=False)
    assert a.duration_s == pytest.approx(0.5) and a.warnings == ()


def test_a_large_file_with_no_samples_looks_damaged(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.array(_sine()), SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    at = raw.find(b"data")
    raw[at + 4 : at + 8] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(raw))
    with pytest.raises(
        EmptyAudioError, match=r"no samples, though it is \d+ bytes long: it looks truncated.*Hint"
    ):
        load_audio(path)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_more_than_two_channels_are_named_in_a_warning(tmp_path, channels):
    path = tmp_path / "surround.wav"
    sf.write(path, np.stack([np.array(_sine())] * channels, axis=1), SR, subtype="FLOAT")
    warnings = load_audio(path).warnings
    if channels <= 2:
        assert warnings == ()
    else:
        assert warnings == (
            f"channels: {channels} channels were mixed down to mono; a surround or multitrack recording may hold "
            "sounds that do not belong to one note. Hint: export the one channel (or the stereo mix) that "
            "holds the note.",
        )


def _harmonic_tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    k = np.arange(1, 21)
    k = k[k * freq < 0.45 * SR]
    return (np.sin(2 * np.pi * freq * k[:, None] * t + k[:, None]) / k[:, None]).sum(axis=0)


def test_a_chord_is_named_in_a_warning_that_reaches_the_match(tmp_path):
    from synthmatch.search.target import analyze_target

    c4, e4, g4 = 261.63, 329.63, 392.0
    chord = _harmonic_tone(c4) + _harmonic_tone(e4) + _harmonic_tone(g4)
    path = tmp_path / "chord.wav"
    sf.write(path, 0.3 * chord / np.abs(chord).max(), SR)
    (warning,) = load_audio(path).warnings
    assert warning == (
        "polyphony: this sounds like several notes at once (about 3: C4, E4, G4); only one note is matched: "
        "the preset found plays the whole sound from one key. Hint: record or export one note on its own "
        "and match that."
    )
    assert warning in analyze_target(path, sample_rate=SR).record()["warnings"]  # MatchResult.analysis
    single = _harmonic_tone(c4)
    assert load_audio((0.3 * single / np.abs(single).max(), SR)).warnings == ()


@pytest.mark.parametrize(
    ("source", "error", "text"),
    [
        ((np.zeros((2, 2, 2)), SR), AudioError, "expected shape"),
        ((np.zeros(0), SR), EmptyAudioError, "no samples"),
        ((np.array(["a", "b"]), SR), AudioError, "not audio"),
        ((np.ones(10), 0), AudioError, "positive integer"),
        (12345, AudioError, "Hint: pass a file path"),
    ],
)
def test_bad_in_memory_sources(source, error, text):
    with pytest.raises(error, match=text):
        load_audio(source)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio((_sine(), SR), sample_rate=0)
    with pytest.raises(ValueError, match="max_seconds"):
        load_audio((_sine(), SR), max_seconds=0)


# --- save_wav ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("subtype", "atol"), [("PCM_16", 1 / 32768), ("PCM_24", 1e-6), ("FLOAT", 0.0)])
def test_save_wav_round_trip(tmp_path, subtype, atol):
    x = np.array(_sine(), dtype=np.float32)
    out = save_wav(tmp_path / "out.wav", x, SR, subtype=subtype)
    assert out == tmp_path / "out.wav"
    data, sr = sf.read(out, dtype="float32")
    assert sr == SR and sf.info(str(out)).subtype == subtype
    np.testing.assert_allclose(data, x, atol=atol)


def test_save_wav_is_atomic_and_clips_integer_formats(tmp_path):
    path = tmp_path / "out.wav"
    save_wav(path, np.zeros(100), SR)
    save_wav(path, np.array([2.0, -2.0, 0.5]), SR)  # replaces the old file, clips instead of wrapping
    data, _ = sf.read(path)
    np.testing.assert_allclose(data, [32767 / 32768, -1.0, 0.5], atol=1e-4)
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]  # no temporary files left behind
    # readable as any file the user makes (the umask's), not private like a temporary file
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_wav_refuses_bad_input_and_leaves_nothing(tmp_path):
    with pytest.raises(AudioError, match="NaN"):
        save_wav(tmp_path / "bad.wav", np.array([0.0, np.nan]), SR)
    with pytest.raises(AudioError, match="shape"):
        save_wav(tmp_path / "bad.wav", np.zeros((2, 2, 2)), SR)
    assert os.listdir(tmp_path) == []


def test_save_then_load_stereo(tmp_path):
    x = np.array(_sine())
    save_wav(tmp_path / "st.wav", np.stack([x, x], axis=1), SR, subtype="FLOAT")
    a = load_audio(tmp_path / "st.wav", trim=False)
    assert a.channels == 2
    np.testing.assert_allclose(a.samples, x - x.mean(), atol=1e-6)
