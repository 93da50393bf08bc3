"""One exception hierarchy for synthmatch.

Every error a user can cause derives from :class:`SynthmatchError`. Messages name the
offending value, the valid range and the fix ("Hint: ...").
"""

from __future__ import annotations


class SynthmatchError(Exception):
    """Root of all synthmatch errors."""


# --- audio input -----------------------------------------------------------------------
class AudioError(SynthmatchError):
    """A problem with an input audio file or signal."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The audio path does not exist (also a :class:`FileNotFoundError`)."""


class UnsupportedFormatError(AudioError):
    """The file is not in a format synthmatch can decode."""


class CorruptAudioError(AudioError):
    """The file claims a supported format but cannot be decoded."""


class EmptyAudioError(AudioError):
    """The file or signal holds no samples."""


class SilentAudioError(AudioError):
    """The signal holds samples but no audible content."""


class AudioTooLongError(AudioError):
    """The signal is longer than the configured maximum duration."""


class AudioTooShortError(AudioError):
    """The sound is too short to analyse (see :data:`synthmatch.audio.io.MIN_SOUND_S`)."""


# --- the Vital model -------------------------------------------------------------------
class PresetError(SynthmatchError):
    """A preset file or value that the Vital model cannot accept."""


class ParameterError(PresetError):
    """An unknown parameter name or a value outside its declared range."""


class UnknownModulationError(PresetError):
    """A modulation source or destination the engine does not know (it would crash it)."""


class SpecMismatchError(SynthmatchError):
    """An artifact (dataset, index, checkpoint) was built for another parameter space or probe."""


class DatasetError(SynthmatchError):
    """A dataset on disk that cannot be built, resumed or read as asked."""


# --- rendering -------------------------------------------------------------------------
class RenderError(SynthmatchError):
    """A render did not produce usable audio."""


class RenderCrashError(RenderError):
    """The engine process died (e.g. a segfault) while rendering one item."""


class RenderTimeoutError(RenderError):
    """A render took longer than its per-item timeout."""


class SilentRenderError(RenderError):
    """The engine produced silence or non-finite samples."""


class EngineUnavailableError(SynthmatchError):
    """The `vita` engine bindings are not installed or cannot be imported."""


class MissingExtraError(SynthmatchError):
    """An optional dependency is needed for this feature."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the optional module {module!r}, which is not installed. "
            f"Hint: pip install 'synthmatch[{extra}]'"
        )
        self.module = module
        self.extra = extra
