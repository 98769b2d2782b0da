"""Whole networks on the simulated targets with every layer's output: a trace
build of a bundle (the harness prints "L <layer> <hex bytes>" after each
layer and "O <hex> <count>" after each inference), parsed in order and held
against the int8 reference (or an oracle's per-layer bytes) layer by layer."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from mcugen.targets import ANSI
from mcugen.targets.bundle import Bundle


def traced_bundle(target, graphs, models, inputs) -> list[list[dict[int, np.ndarray]]]:
    """Per model, per input: {layer index: output bytes}, from one trace build."""
    b = Bundle(models, [len(x) for x in inputs])
    with tempfile.TemporaryDirectory(prefix="mcugen-trace-") as d:
        elf = target.compile(Path(d), b, b.pack(inputs), trace=True)
        text = ANSI.sub("", target.simulate(elf)).replace("\r", "")
    runs, cur = [], {}
    for m in re.finditer(r"^(?:L (\d+) ([0-9a-f]*)|O [0-9a-f]* \d+)[.\s]*$", text, re.M):
        if m.group(1) is not None:
            cur[int(m.group(1))] = np.frombuffer(bytes.fromhex(m.group(2)), dtype=np.int8)
        else:
            runs.append(cur)
            cur = {}
    want = sum(len(x) for x in inputs)
    assert len(runs) == want and re.search(r"^E[.\s]*$", text, re.M), \
        f"the trace build printed {len(runs)} of {want} inferences: {text[-300:]!r}"
    out, start = [], 0
    for x in inputs:
        out.append(runs[start : start + len(x)])
        start += len(x)
    return out


def first_wrong_layer(g, traces, per_layer) -> str | None:
    """The first (input, layer) whose traced bytes differ from per_layer[i] (N, ...) of op i."""
    for n, layers in enumerate(traces):
        if sorted(layers) != list(range(len(g.ops))):
            return f"input {n}: traced layers {sorted(layers)}, expected 0..{len(g.ops) - 1}"
        for i, op in enumerate(g.ops):
            want = np.asarray(per_layer[i][n], dtype=np.int8).reshape(-1)
            if not np.array_equal(layers[i], want):
                return f"input {n}, layer {i} {op.name!r}"
    return None
