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


def naming_layer(layer: str, e: Exception) -> str:
    """The first line of ``e``'s text, naming the layer once (the messages of
    the ops' own checks name it already)."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if text.startswith(f"layer {layer!r}") else f"layer {layer!r}: {text}"
