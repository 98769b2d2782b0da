"""Errors that are the user's to fix: the CLI prints them as one line."""


class McugenError(Exception):
    """A user-facing error: bad model, bad data, bad option, no room."""


class UnsupportedLayer(McugenError):
    pass
