"""What the service accepts: uploads checked by their content, within limits, with messages a
person can act on.

Nothing a client sends becomes a path: an upload is stored under a name the server chooses, with
the extension its *content* shows (:func:`sniff_audio`); the client's file name is kept only as
display text (:func:`display_name`). Decoding and the audio checks are the library's own
(:func:`synthmatch.audio.io.load_audio`), shared with the CLI.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["AUDIO_FORMATS", "ServiceError", "display_name", "sniff_audio", "sniff_preset"]


@dataclass
class ServiceError(Exception):
    """An error answered as ``{"error": {"status", "code", "message"}}`` with ``status``."""

    status: int
    code: str
    message: str
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return self.message


#: What :func:`sniff_audio` recognises (and the decoder reads).
AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3", "aiff")


def sniff_audio(head: bytes) -> str | None:
    """The audio format of a file from its first bytes: "wav", "flac", "ogg", "aiff", "mp3", or None."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return "mp3"  # an MPEG audio frame header (layer bits not 00)
    return None


def sniff_preset(data: bytes) -> None:
    """Raise a :class:`ServiceError` unless ``data`` looks like a ``.vital`` preset (JSON object)."""
    start = data.lstrip()[:1]
    if start != b"{":
        raise ServiceError(
            415,
            "not_a_preset",
            "this file is not a Vital preset: a .vital file is JSON and starts with '{'. "
            "Hint: in Vital, save the preset (File → Save) and upload the .vital file.",
        )


_UNSAFE = re.compile(r"[^\w .()+,'&-]+")


def display_name(name: str | None, *, limit: int = 100) -> str:
    """A client's file name as harmless display text: its last path part, no control characters,
    at most ``limit`` characters ("upload" when nothing is left). Never used as a path."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("_", text).strip(" .")
    return text[:limit] or "upload"


def human_bytes(n: int) -> str:
    """``n`` bytes in decimal units, as ``serve --max-upload-mb`` takes them: "20 MB", "512 KB"."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} bytes"
