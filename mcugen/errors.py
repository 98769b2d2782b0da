"""Errors that are the user's to fix: the CLI prints them as one line."""


class McugenError(Exception):
    """A user-facing error: bad model, bad data, bad option, no room."""


class UnsupportedLayer(McugenError):
    pass


def one_line(text: str, limit: int = 400) -> str:
    """An exception's text as one line for an error message, shortened in the
    middle so that the end (where the reason usually is) stays."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit // 2 - 3] + " ... " + text[-(limit // 2 - 2):]
    return text
