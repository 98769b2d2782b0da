"""Keras Bidirectional over a GRU, SimpleRNN or LSTM (lstm_keras.py): two recurrent ops over the
same input (the backward one with ``go_backwards`` flipped, its sequence
output written reversed so that step t of both lines up, as Keras flips
it), then the merge: concat (Concatenate on the last axis), sum (Add),
ave (Add with 1/2 folded into its output multiplier, as Average) or mul
(Multiply). merge_mode=None (two outputs) is refused."""
from __future__ import annotations

from . import keras_layer
from .add import Add
from .binary import Binary
from .concat import Concat
from .rnn_common import RECURRENT_BUILDERS

MERGES = ("concat", "sum", "ave", "mul")


@keras_layer("Bidirectional")
def from_keras(layer, cx):
    mode = layer.get_config().get("merge_mode", "concat")
    if mode not in MERGES:
        cx.unsupported(f"merge_mode={mode!r} (supported: {', '.join(MERGES)})")
    fwd, bwd = layer.forward_layer, layer.backward_layer
    parts = []
    for sub, reverse in ((fwd, False), (bwd, True)):
        cls = type(sub).__name__
        if cls not in RECURRENT_BUILDERS:
            cx.unsupported(f"wrapped layer {cls} (supported: {', '.join(sorted(RECURRENT_BUILDERS))})")

        def refuse(detail, cls=cls):
            cx.unsupported(f"{cls} {detail}")

        if sub.get_config().get("stateful"):
            refuse("stateful=True (in Bidirectional: the backward layer reads the sequence from its end)")

        seq = bool(sub.get_config().get("return_sequences", False))
        t, _ = cx.g.shape(cx.inputs[0])
        shape = (t, int(sub.get_config()["units"])) if seq else (int(sub.get_config()["units"]),)
        out = cx.tmp(shape, "forward" if not reverse else "backward")
        more = {"steps": t} if cls == "LSTM" else {}  # the LSTM op records its sequence length
        op = RECURRENT_BUILDERS[cls](sub, f"{cx.name}_{'backward' if reverse else 'forward'}", [cx.inputs[0]], [out],
                                     refuse, reverse_output=reverse and seq, **more)
        cx.add(op)
        parts.append(out)
    if mode == "concat":
        rank = len(cx.g.shape(cx.output))
        cx.add(Concat(name=cx.name, inputs=parts, outputs=[cx.output], axis=rank - 1))
    elif mode in ("sum", "ave"):
        cx.add(Add(name=cx.name, inputs=parts, outputs=[cx.output], factor=0.5 if mode == "ave" else 1.0))
    else:
        cx.add(Binary(name=cx.name, inputs=parts, outputs=[cx.output], fn="mul"))
