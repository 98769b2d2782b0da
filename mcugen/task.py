"""What a model's output is: class scores or not (argmax agreement in
``check``, the top class in the generated sketch)."""
from __future__ import annotations

from .ir import Graph

MAX_CLASSES = 1000


def is_classifier(g: Graph) -> bool:
    """Does the output of a one-output model hold class scores (so that its
    argmax is a class)? See ``output_is_classifier``."""
    return output_is_classifier(g, 0) if len(g.outputs) == 1 else False


def output_is_classifier(g: Graph, k: int) -> bool:
    """Does output k hold class scores? One axis of 2 to MAX_CLASSES values
    ending in softmax, or any such output that is not the size of an input:
    an autoencoder (MLPerf Tiny's anomaly detector: 640 in, 640 out)
    reconstructs its input, and the argmax of a reconstruction means nothing."""
    name = g.outputs[k]
    shape = g.tensors[name].shape
    if len(shape) != 1 or not 2 <= shape[0] <= MAX_CLASSES:
        return False
    producer = next((op for op in reversed(g.ops) if name in op.outputs), None)
    return (producer is not None and producer.kind == "softmax") or all(
        shape[0] != t.size for t in g.input_tensors)
