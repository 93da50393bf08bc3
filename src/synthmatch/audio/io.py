"""Load any common audio file (or array) into one clean mono signal, and write WAV files atomically.

The loader is the single entry point for user audio: every later stage (analysis, features, search)
can assume a finite, non-silent, mono ``float32`` signal at a known sample rate.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import soundfile as sf

from synthmatch.audio.analysis import polyphony_warning
from synthmatch.dsp import amp_to_db, frame_signal, resample
from synthmatch.errors import (
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    AudioTooShortError,
    CorruptAudioError,
    EmptyAudioError,
    SilentAudioError,
    UnsupportedFormatError,
)

__all__ = [
    "CLIP_LEVEL",
    "MIN_SOUND_S",
    "SILENCE_FLOOR_DB",
    "SUPPORTED_EXTENSIONS",
    "AudioFileNotFoundError",
    "AudioSource",
    "LoadedAudio",
    "load_audio",
    "save_wav",
]

#: File extensions the loader accepts, mapped to the libsndfile container that decodes them.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".opus": "OGG",
    ".mp3": "MP3",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
}
_SUPPORTED_CONTAINERS = frozenset(SUPPORTED_EXTENSIONS.values()) | {"WAVEX", "RF64"}
_SUPPORTED_TEXT = "WAV, FLAC, OGG (Vorbis/Opus), MP3, AIFF"

#: A sample at or above this fraction of full scale counts as clipped (when in a run, see below).
CLIP_LEVEL = 0.999
#: Minimum run of consecutive full-scale samples (same sign) that counts as clipping.
CLIP_MIN_RUN = 3
#: Signals whose peak is below this level (dBFS, after DC removal) are rejected as silent.
SILENCE_FLOOR_DB = -90.0
#: Shortest sound accepted, in seconds from its first to its last sample above the trim threshold
#: (``trim_db`` under the peak): a shorter one has no attack, decay or pitch to read (the envelope's
#: frames last 23 ms, a pitch window 86 ms), and a match of it ends far from it whatever it finds.
MIN_SOUND_S = 0.05
#: Audio kept before the first sample above the trim threshold, so the attack stays intact.
PRE_ROLL_S = 0.005
#: Audio kept after the last sample above the trim threshold.
POST_ROLL_S = 0.010
#: Files longer than this multiple of ``max_seconds`` are refused before decoding (bounded memory).
_DECODE_LIMIT_FACTOR = 10.0
#: Warn when the peak is this quiet (dBFS).
_QUIET_DB = -40.0
#: A file this large (bytes) that decodes to no samples is damaged, not empty (headers take less).
_EMPTY_FILE_BYTES = 4096
#: A lossy file (MP3, OGG) is called truncated only when it holds this fraction less than its
#: header's length, which some encoders only estimate.
_LOSSY_SHORTFALL = 0.05
#: A WAV data size from this up is a placeholder that a writer streaming to a pipe leaves
#: (0xFFFFFFFF, SoX's 0x7FFFF000), not a length: such a file is not called truncated.
_WAV_SIZE_PLACEHOLDER = 0x7FFFF000

#: Bits of integer PCM subtypes (used to find the positive full-scale value).
_SUBTYPE_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}

AudioSource = str | os.PathLike | tuple[np.ndarray, int]


@dataclass(frozen=True)
class LoadedAudio:
    """A decoded, cleaned mono signal and what was done to it.

    Attributes
    ----------
    samples : np.ndarray [shape=(n,), dtype=float32]
        Mono signal (mean of the channels), DC removed, trimmed, at ``sample_rate``. Full scale is 1.0.
    sample_rate : int
        Sample rate of ``samples`` in Hz.
    source : str
        The file path, or ``"<array>"`` for an in-memory signal.
    original_sample_rate : int
        Sample rate of the source in Hz.
    channels : int
        Channel count of the source.
    duration_s : float
        Duration of ``samples`` in seconds.
    trimmed_start_s : float
        Seconds removed from the start of the source by trimming (0.0 when ``trim=False``).
    trimmed_end_s : float
        Seconds removed from the end of the source by trimming (0.0 when ``trim=False``); that
        audio was quieter than the trim threshold (see :meth:`with_trimmed_end`).
    clipped_fraction : float
        Fraction (0..1) of source samples, over all channels, that sit at full scale in runs of
        ``CLIP_MIN_RUN`` or more.
    warnings : tuple[str, ...]
        Human-readable notes about problems that did not stop loading, each starting with its
        kind: ``clipping``, ``level``, ``truncated`` (the file holds less than its header
        promises), ``channels`` (more than 2 were mixed to mono), ``polyphony`` (several notes
        sound at once, :func:`synthmatch.audio.analysis.simultaneous_notes`).
    """

    samples: np.ndarray
    sample_rate: int
    source: str
    original_sample_rate: int
    channels: int
    duration_s: float
    trimmed_start_s: float
    clipped_fraction: float
    warnings: tuple[str, ...]
    trimmed_end_s: float = 0.0

    def with_trimmed_end(self) -> np.ndarray:
        """``samples`` followed by as much silence as trimming removed from the end of the source.

        For analyses that read how a sound ends (the release detector ignores a clip's last 50 ms
        and measures falls over 0.4 s): the trimmed tail was below the trim threshold, so zeros
        stand in for it, and a sound that faded out inside the source still fades out inside the
        clip instead of at its edge.
        """
        n = round(self.trimmed_end_s * self.sample_rate)
        return np.concatenate([self.samples, np.zeros(n, dtype=self.samples.dtype)]) if n else self.samples


def load_audio(
    source: AudioSource,
    *,
    sample_rate: int = 44100,
    max_seconds: float = 30.0,
    trim: bool = True,
    trim_db: float = 60.0,
) -> LoadedAudio:
    """Decode a file (or take an array) and return one clean mono signal.

    Steps, in order: decode (noting a file cut short of what its header promises) → check finite →
    detect clipping (per channel, at the source rate) → mix to mono by the mean of the channels →
    remove the DC offset (:func:`_remove_offset`) → reject silence → trim leading/trailing silence →
    check the duration (at least :data:`MIN_SOUND_S` of sound, at most ``max_seconds``) → resample →
    listen for several notes at once.

    Parameters
    ----------
    source : str | os.PathLike | tuple[np.ndarray, int]
        A path to a WAV, FLAC, OGG, MP3 or AIFF file (any rate, any channel count, 8-32-bit integer
        or float), or ``(samples, sample_rate)``. Arrays may be 1-D ``[shape=(n,)]``, frames-first
        ``[shape=(n, channels)]`` or channels-first ``[shape=(channels, n)]`` (taken as
        channels-first when the first axis is the shorter one and has at most 16 entries). Integer
        arrays are scaled by their type's full scale.
    sample_rate : int
        Output sample rate in Hz.
    max_seconds : float
        Longest accepted signal in seconds, measured after trimming when ``trim`` is True.
    trim : bool
        Remove leading and trailing audio quieter than ``trim_db`` below the peak, keeping
        ``PRE_ROLL_S`` (5 ms) before the first louder sample and ``POST_ROLL_S`` (10 ms) after the last.
    trim_db : float
        Trim threshold in dB below the peak (positive number).

    Returns
    -------
    LoadedAudio

    Raises
    ------
    AudioFileNotFoundError
        The path does not exist.
    UnsupportedFormatError
        The file is not one of WAV, FLAC, OGG, MP3, AIFF (e.g. ``.txt`` or ``.mid``).
    CorruptAudioError
        The file has an audio extension but cannot be decoded, or holds NaN/inf samples.
    EmptyAudioError
        The file or array holds no samples.
    SilentAudioError
        The peak (after DC removal and mixing to mono) is below -90 dBFS.
    AudioTooShortError
        Less than :data:`MIN_SOUND_S` (50 ms) lies between the first and the last sample within
        ``trim_db`` of the peak (whether or not ``trim`` is set); the message also says when the
        file looks truncated.
    AudioTooLongError
        The signal is longer than ``max_seconds``.
    AudioError
        Any other unusable input (a directory, an array of the wrong type or shape).
    """
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}.")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}.")
    if not trim_db > 0:
        raise ValueError(f"trim_db must be a positive number of dB below the peak, got {trim_db!r}.")

    promised = None
    if isinstance(source, tuple):
        label = "<array>"
        data, orig_sr, full_scale = _from_array(source)
    elif isinstance(source, (str, os.PathLike)):
        label = str(source)
        data, orig_sr, full_scale, promised = _from_file(Path(source), max_seconds=max_seconds, trim=trim)
    else:
        raise AudioError(
            f"Cannot load audio from a {type(source).__name__}. "
            "Hint: pass a file path or a (samples, sample_rate) tuple."
        )

    n_frames, channels = data.shape
    if n_frames == 0:
        raise EmptyAudioError(
            f"{label}: the audio holds no samples. Hint: re-export the sound; the file may have been cut to zero length."
        )
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise CorruptAudioError(
            f"{label}: {bad} samples are NaN or infinite. "
            "Hint: re-export the sound from your editor or DAW (as 24-bit integer WAV, for example)."
        )

    warnings: list[str] = []
    truncated = ""
    if promised is not None:
        truncated = (
            f"its header promises {promised} frames ({promised / orig_sr:.3f} s) of audio, "
            f"but it holds only {n_frames} ({n_frames / orig_sr:.3f} s)"
        )
    if channels > 2:
        warnings.append(
            f"channels: {channels} channels were mixed down to mono; a surround or multitrack recording may "
            "hold sounds that do not belong to one note. Hint: export the one channel (or the stereo mix) "
            "that holds the note."
        )
    clipped = _clipped_fraction(data, positive_full_scale=full_scale)
    if clipped > 0:
        warnings.append(
            f"clipping: {100 * clipped:.2f}% of the samples sit at full scale in runs of {CLIP_MIN_RUN} or more; "
            "the match will try to reproduce the distortion. Hint: re-export the sound at a lower level."
        )
    over = float(np.max(np.abs(data)))
    if over > 1.0 + 1e-6:
        warnings.append(
            f"level: the peak is {over:.2f} ({amp_to_db(over):.1f} dBFS), above full scale; it is kept as is."
        )

    mono = _remove_offset(data.mean(axis=1, dtype=np.float64), orig_sr)
    peak = float(np.max(np.abs(mono)))
    peak_db = float(amp_to_db(peak))
    if peak_db < SILENCE_FLOOR_DB:
        channel_peak_db = float(amp_to_db(np.max(np.abs(data - data.mean(axis=0)))))
        why = (
            f" The channels peak at {channel_peak_db:.1f} dBFS but cancel when mixed to mono (polarity-inverted?)."
            if channel_peak_db >= SILENCE_FLOOR_DB
            else ""
        )
        raise SilentAudioError(
            f"{label}: the signal is silent (peak {peak_db:.1f} dBFS after removing DC, below the "
            f"{SILENCE_FLOOR_DB:.0f} dBFS floor).{why} "
            "Hint: check that the file plays back, and export the sound at a normal level."
        )
    if peak_db < _QUIET_DB:
        warnings.append(f"level: the peak is only {peak_db:.1f} dBFS; noise may dominate the analysis.")

    loud = np.flatnonzero(np.abs(mono) >= peak * 10.0 ** (-trim_db / 20.0))
    sounding = (int(loud[-1]) - int(loud[0]) + 1) / orig_sr
    if sounding < MIN_SOUND_S:
        raise AudioTooShortError(_too_short_message(label, sounding, trim_db, truncated=truncated))
    if truncated:
        warnings.append(
            f"truncated: {truncated}; the match uses what it holds. Hint: export or copy the file "
            "again (a download or a recording may have stopped early)."
        )
    start, n_source = 0, len(mono)
    if trim:
        start = max(0, int(loud[0]) - round(PRE_ROLL_S * orig_sr))
        stop = min(len(mono), int(loud[-1]) + 1 + round(POST_ROLL_S * orig_sr))
        mono = mono[start:stop]

    duration = len(mono) / orig_sr
    if duration > max_seconds:
        raise AudioTooLongError(_too_long_message(label, duration, max_seconds, trimmed=trim))

    trimmed_end = n_source - start - len(mono)  # in source samples: count before resampling
    mono = resample(mono, orig_sr=orig_sr, target_sr=int(sample_rate))
    samples = np.ascontiguousarray(mono, dtype=np.float32)
    chord = polyphony_warning(samples, int(sample_rate))
    if chord:
        warnings.append(chord)
    return LoadedAudio(
        samples=samples,
        sample_rate=int(sample_rate),
        source=label,
        original_sample_rate=int(orig_sr),
        channels=int(channels),
        duration_s=len(samples) / float(sample_rate),
        trimmed_start_s=start / float(orig_sr),
        clipped_fraction=float(clipped),
        warnings=tuple(warnings),
        trimmed_end_s=trimmed_end / float(orig_sr),
    )


def save_wav(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    subtype: Literal["PCM_16", "PCM_24", "FLOAT"] = "PCM_16",
) -> Path:
    """Write a WAV file atomically (write a temporary file in the same folder, then ``os.replace``).

    Parameters
    ----------
    path : str | os.PathLike
        Destination; its folder must exist. An existing file is replaced only once the new one is complete.
    samples : np.ndarray [shape=(n,) or (n, channels)]
        Float signal, full scale 1.0. Integer PCM subtypes clip it to [-1, 1].
    sample_rate : int
        Sample rate in Hz.
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
        Sample format: 16/24-bit integer, or 32-bit float (no clipping).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    data = np.asarray(samples)
    if data.ndim not in (1, 2) or data.size == 0:
        raise AudioError(
            f"{path}: cannot write samples of shape {data.shape}. "
            "Hint: pass a non-empty array of shape (n,) or (n, channels)."
        )
    if subtype not in ("PCM_16", "PCM_24", "FLOAT"):
        raise ValueError(f"subtype must be one of 'PCM_16', 'PCM_24', 'FLOAT', got {subtype!r}.")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}.")
    data = data.astype(np.float32 if subtype == "FLOAT" else np.float64, copy=False)
    if not np.all(np.isfinite(data)):
        raise AudioError(
            f"{path}: refusing to write NaN or infinite samples. Hint: check the signal's source."
        )
    if subtype != "FLOAT":
        # libsndfile wraps rather than clips out-of-range floats when converting to integers.
        data = np.clip(data, -1.0, 1.0)
    # a unique name, created by libsndfile with the usual permissions (mkstemp's are 0600, and the
    # file would stay unreadable to anyone else: a DAW, a web server)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        sf.write(tmp, data, int(sample_rate), subtype=subtype, format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- helpers ---------------------------------------------------------------------------------------------------


def _too_long_message(label: str, duration: float, max_seconds: float, *, trimmed: bool) -> str:
    what = "after trimming silence" if trimmed else "long"
    return (
        f"{label}: the sound lasts {duration:.1f} s ({what}); the limit is {max_seconds:g} s. "
        "Hint: trim the file to the one note you want to match, or raise the limit with "
        "max_seconds=... (CLI: --max-seconds)."
    )


def _too_short_message(label: str, sounding: float, trim_db: float, *, truncated: str) -> str:
    minimum = _duration_text(MIN_SOUND_S)
    why = f"the file looks truncated ({truncated}), and " if truncated else ""
    again = "export the whole file again, and " if truncated else ""
    return (
        f"{label}: {why}the sound lasts only {_duration_text(sounding)} (from its first to its last sample "
        f"within {trim_db:g} dB of its peak); the minimum is {minimum}, as a shorter sound has no attack, "
        f"decay or pitch to read. Hint: {again}record or export at least {minimum} of the note."
    )


def _duration_text(seconds: float) -> str:
    """``"1.8 ms"``, ``"50 ms"``, ``"1.50 s"``."""
    if seconds < 0.01:
        return f"{1000 * seconds:.1f} ms"
    return f"{1000 * seconds:.0f} ms" if seconds < 1.0 else f"{seconds:.2f} s"


def _from_array(source: tuple) -> tuple[np.ndarray, int, float]:
    """Validate ``(samples, sample_rate)``; return frames-first float64 data, the rate and the positive full scale."""
    if len(source) != 2:
        raise AudioError(
            f"An in-memory source must be a (samples, sample_rate) pair, got a tuple of {len(source)}. "
            "Hint: pass (np.ndarray, int)."
        )
    arr, sr = source
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise AudioError(f"<array>: the sample rate must be a positive integer in Hz, got {sr!r}.")
    arr = np.asarray(arr)
    full_scale = 1.0
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        span = (int(info.max) - int(info.min) + 1) / 2.0
        offset = 0.0 if arr.dtype.kind == "i" else span
        full_scale = float(info.max - offset) / span
        arr = (arr.astype(np.float64) - offset) / span
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
    else:
        raise AudioError(
            f"<array>: samples of dtype {arr.dtype} are not audio. Hint: pass a float or integer numpy array."
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim == 2:
        if arr.shape[0] < arr.shape[1] and arr.shape[0] <= 16:
            arr = arr.T  # channels-first, like librosa and vita
    else:
        raise AudioError(
            f"<array>: expected shape (n,), (n, channels) or (channels, n), got {arr.shape}. "
            "Hint: pass one sound at a time."
        )
    return arr, int(sr), full_scale


def _from_file(path: Path, *, max_seconds: float, trim: bool) -> tuple[np.ndarray, int, float, int | None]:
    """Decode a file; return frames-first float64 data, its sample rate, the positive full scale,
    and the frame count its header promises when it holds fewer (a truncated file), else None."""
    if not path.exists():
        raise AudioFileNotFoundError(
            f"{path}: no such file. Hint: check the path (relative paths start from {Path.cwd()})."
        )
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file. Hint: pass one file ({_SUPPORTED_TEXT}).")
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path}: the file is empty (0 bytes). Hint: re-export the sound.")

    ext = path.suffix.lower()
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"MThd" or ext in (".mid", ".midi"):
        raise UnsupportedFormatError(
            f"{path}: a MIDI file holds notes, not sound, so it cannot be matched. Supported formats: "
            f"{_SUPPORTED_TEXT}. Hint: render the MIDI to audio in your DAW, then pass the audio file."
        )
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as err:
        if ext in SUPPORTED_EXTENSIONS:
            raise CorruptAudioError(
                f"{path}: has a {ext} name but cannot be decoded as {SUPPORTED_EXTENSIONS[ext]} ({_reason(err)}). "
                "Hint: the file may be truncated or mislabeled; open it in an audio editor and export it again as WAV."
            ) from None
        raise UnsupportedFormatError(_unsupported_message(path, ext)) from None
    if info.format not in _SUPPORTED_CONTAINERS:
        raise UnsupportedFormatError(_unsupported_message(path, ext, detected=info.format_info))

    if info.frames == 0:
        size = path.stat().st_size
        why = (
            f", though it is {size} bytes long: it looks truncated or damaged"
            if size > _EMPTY_FILE_BYTES
            else ""
        )
        raise EmptyAudioError(f"{path}: the file holds no samples{why}. Hint: re-export the sound.")
    raw_duration = info.frames / info.samplerate
    limit = max_seconds * (_DECODE_LIMIT_FACTOR if trim else 1.0)
    if raw_duration > limit:
        raise AudioTooLongError(_too_long_message(str(path), raw_duration, max_seconds, trimmed=False))

    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as err:
        raise CorruptAudioError(
            f"{path}: the {info.format} data cannot be decoded ({_reason(err)}). "
            "Hint: the file may be truncated; open it in an audio editor and export it again as WAV."
        ) from None
    bits = _SUBTYPE_BITS.get(info.subtype)
    full_scale = 1.0 - 2.0 ** (1 - bits) if bits else 1.0
    promised = _promised_frames(path, info.format, decoded_frames=info.frames)
    slack = _LOSSY_SHORTFALL * promised if promised is not None and info.format in ("MP3", "OGG") else 0.0
    cut_short = promised is not None and promised - len(data) > slack
    return data, int(sr), full_scale, (promised if cut_short else None)


def _promised_frames(path: Path, container: str, *, decoded_frames: int) -> int | None:
    """The frame count a file's header promises, or None where it says none that can be trusted.

    libsndfile reads a WAV or AIFF file cut short as far as it goes, and reports that shorter
    length as the file's, so the header is read here: the ``data`` chunk's size over the frame
    size (WAV; for a compressed subtype such as ADPCM, whose blocks hold many frames each, that is
    fewer than it holds, so such a file is never called truncated), the ``COMM`` chunk's frame
    count (AIFF). FLAC, MP3 (a Xing/LAME header) and OGG
    streams hold their length where libsndfile reports it (MP3 without a Xing header: an estimate
    from the file's size, which a cut file shrinks with it). RF64 gives None.
    """
    try:
        with open(path, "rb") as fh:
            if container in ("WAV", "WAVEX"):
                return _wav_promised_frames(fh)
            if container == "AIFF":
                return _aiff_promised_frames(fh)
    except (OSError, struct.error):
        return None
    return decoded_frames if container in ("FLAC", "MP3", "OGG") and decoded_frames > 0 else None


def _chunks(fh: BinaryIO, *, endian: str, limit: int = 64) -> Iterator[tuple[bytes, int]]:
    """``(chunk id, size)`` of a RIFF or IFF file's top-level chunks from the current position,
    leaving ``fh`` at each chunk's data (the caller may read it; the next step seeks past it)."""
    for _ in range(limit):
        head = fh.read(8)
        if len(head) < 8:
            return
        size = struct.unpack(endian + "I", head[4:])[0]
        data_at = fh.tell()
        yield head[:4], size
        fh.seek(data_at + size + (size & 1))


def _wav_promised_frames(fh: BinaryIO) -> int | None:
    head = fh.read(12)
    if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    endian = "<" if head[:4] == b"RIFF" else ">"
    block_align = 0
    for cid, size in _chunks(fh, endian=endian):
        if cid == b"fmt " and size >= 14:
            block_align = struct.unpack(endian + "H", fh.read(14)[12:14])[0]
        elif cid == b"data":
            if not block_align or size == 0 or size >= _WAV_SIZE_PLACEHOLDER:
                return None
            return size // block_align
    return None


def _aiff_promised_frames(fh: BinaryIO) -> int | None:
    head = fh.read(12)
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return None
    for cid, size in _chunks(fh, endian=">"):
        if cid == b"COMM" and size >= 6:
            return struct.unpack(">I", fh.read(6)[2:6])[0] or None
    return None


def _unsupported_message(path: Path, ext: str, detected: str | None = None) -> str:
    what = f"a {detected} file" if detected else (f"'{ext}'" if ext else "a file without an extension")
    return (
        f"{path}: {what} is not a supported audio format. Supported formats: {_SUPPORTED_TEXT}. "
        "Hint: convert it to WAV first (e.g. `ffmpeg -i input.m4a output.wav`)."
    )


def _reason(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__


def _clipped_fraction(data: np.ndarray, *, positive_full_scale: float) -> float:
    """Fraction of samples at full scale (not above it) in same-sign runs of at least ``CLIP_MIN_RUN``.

    Parameters
    ----------
    data : np.ndarray [shape=(n, channels)]
        Samples scaled so that full scale is 1.0 (integer formats reach ``positive_full_scale`` on
        the positive side, e.g. 32767/32768).
    """
    n, channels = data.shape
    if n < CLIP_MIN_RUN:
        return 0.0
    clipped = 0
    # Above full scale (float files only) is a hot level, reported as such, not a clipped top.
    top = (data >= CLIP_LEVEL * positive_full_scale) & (data <= positive_full_scale + 1e-6)
    bottom = (data <= -CLIP_LEVEL) & (data >= -1.0 - 1e-6)
    for mask in (top, bottom):
        for ch in range(channels):
            m = mask[:, ch]
            if not m.any():
                continue
            edges = np.diff(np.concatenate(([0], m.view(np.int8), [0])))
            starts = np.flatnonzero(edges == 1)
            stops = np.flatnonzero(edges == -1)
            runs = stops - starts
            clipped += int(runs[runs >= CLIP_MIN_RUN].sum())
    return clipped / float(n * channels)


#: :func:`_remove_offset`: frames (s) whose spread is measured, the spread (dB under the largest)
#: from which a frame sounds, and the ramp (s) between the offsets of the sound and the silence.
_OFFSET_FRAME_S = 0.01
_OFFSET_SOUNDING_DB = 60.0
_OFFSET_RAMP_S = 0.005


def _remove_offset(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` without its DC offset, measured apart where it sounds and in the silence around it.

    A sample with an asymmetric waveform carries an offset while the note sounds and none in the
    silence after it; subtracting the mean of the whole file would move that silence off zero,
    where it reads as a level that never decays (and as a floor in every spectrogram's lowest
    band). So the offset is the mean of the span whose frames sound (standard deviation within
    :data:`_OFFSET_SOUNDING_DB` of the largest, which no offset moves), and the silence before and
    after it has its own; the two are joined by a short ramp. A constant offset is removed
    entirely, as by subtracting the mean; a filter would ring at the note's edges instead."""
    hop = max(1, round(_OFFSET_FRAME_S * sample_rate))
    if len(x) < 4 * hop:
        return x - x.mean()
    spread = frame_signal(x, frame_length=hop, hop_length=hop, center=False).std(axis=1)
    sounding = np.nonzero(spread >= spread.max() * 10.0 ** (-_OFFSET_SOUNDING_DB / 20.0))[0]
    start, stop = int(sounding[0]) * hop, min(len(x), (int(sounding[-1]) + 1) * hop)
    inside = float(x[start:stop].mean())
    if start == 0 and stop == len(x):
        return x - inside
    offset = np.full(len(x), inside)
    offset[:start] = x[:start].mean() if start else inside
    offset[stop:] = x[stop:].mean() if stop < len(x) else inside
    ramp = max(1, round(_OFFSET_RAMP_S * sample_rate))
    for edge in (start, stop):
        lo, hi = max(0, edge - ramp // 2), min(len(x), edge + ramp // 2)
        if hi - lo >= 2:
            offset[lo:hi] = np.linspace(offset[lo], offset[hi - 1], hi - lo)
    return x - offset
