"""Typed errors. Each carries a one-line message fit to show a person as it is.

The CLI and the app catch `VmlError` and print `str(err)`; anything else is a bug.
"""


class VmlError(Exception):
    """Base class: `str(err)` is a one-line human message."""


class MediaError(VmlError):
    """A media file cannot be used."""


class NotMediaError(MediaError):
    """The file is not audio or video that ffmpeg can read (wrong type, text, image...)."""


class CorruptMediaError(MediaError):
    """The file looks like media but cannot be decoded (truncated, damaged)."""


class EmptyMediaError(MediaError):
    """Zero-length file, or a stream with no decodable samples/frames."""


class NoVideoStreamError(MediaError):
    """A video was expected but the file has no video stream."""


class NoAudioStreamError(MediaError):
    """Audio was expected but the file has no audio stream."""


class MediaTooLongError(MediaError):
    """Duration beyond the configured limit."""


class MediaTooLargeError(MediaError):
    """Resolution or file size beyond the configured limit."""


class WeightsUnavailableError(VmlError):
    """Model weights are not on this machine (e.g. CLIP without a hub)."""


class LibraryError(VmlError):
    """The music library index is missing, unreadable or inconsistent."""


class QueryError(VmlError):
    """A search request that cannot be answered (empty query, unknown option...)."""


class SettingsError(VmlError):
    """An environment variable holds a value that cannot be used."""
