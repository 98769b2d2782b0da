"""What a model's output is: class scores or not (argmax agreement in
``check``, the top class in the generated sketch)."""
from __future__ import annotations

from .ir import Graph

MAX_CLASSES = 1000


def is_classifier(g: Graph) -> bool:
    """Does the output hold class scores (so that its argmax is a class)? One
    axis of 2 to MAX_CLASSES values ending in softmax, or any such output that
    is not the size of the input: an autoencoder (MLPerf Tiny's anomaly
    detector: 640 in, 640 out) reconstructs its input, and the argmax of a
    reconstruction means nothing."""
    shape = g.output.shape
    if len(shape) != 1 or not 2 <= shape[0] <= MAX_CLASSES:
        return False
    producer = next((op for op in reversed(g.ops) if g.outputs[0] in op.outputs), None)
    return (producer is not None and producer.kind == "softmax") or shape[0] != g.input.size
