"""Audio input and analysis: loading any common format, note analysis (pitch, onset, note length,
loudness) and features (log-mel, embeddings). Knows nothing of Vital."""

from __future__ import annotations

from synthmatch.audio.analysis import NoteAnalysis, PitchTrack, analyze, pitch_track
from synthmatch.audio.features import (
    LogMelConfig,
    available_embeddings,
    get_embedding,
    log_mel,
    register_embedding,
)
from synthmatch.audio.io import SUPPORTED_EXTENSIONS, LoadedAudio, load_audio, save_wav

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "LoadedAudio",
    "LogMelConfig",
    "NoteAnalysis",
    "PitchTrack",
    "analyze",
    "available_embeddings",
    "get_embedding",
    "load_audio",
    "log_mel",
    "pitch_track",
    "register_embedding",
    "save_wav",
]
