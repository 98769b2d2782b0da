"""Many models in one firmware image, so that one cross-compile and one
simulator run check many ops at once (the test suite's target runs).

A Bundle looks like one CModel to the targets and the harness: its input and
output sizes are the largest of its models', its invoke function runs, on
the k-th call, the model that test vector k belongs to (a table in flash).
Each model keeps its own static arena, so a bundle must fit the RAM of the
simulated machine: ``groups`` splits a list of models accordingly."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emit import CModel, c_values
from ..ir import Graph


@dataclass
class Bundle:
    models: list[CModel]
    counts: list[int]  # test vectors per model, in order
    name: str = "mcg_bundle"

    @property
    def in_size(self) -> int:
        return max(m.input_size for m in self.models)

    @property
    def out_size(self) -> int:
        return max(m.output_size for m in self.models)

    def write(self, folder: Path) -> None:
        for m in self.models:
            m.write(folder)
        which = np.repeat(np.arange(len(self.models)), self.counts).astype(np.int16)
        cases = "\n".join(
            f"    case {i}: {m.packed_call('in', 'out') if m.input_sizes else f'{m.name}_invoke(in, out)'}; break;"
            for i, m in enumerate(self.models)
        )
        (folder / f"{self.name}.h").write_text(
            f"#ifndef MCG_BUNDLE_H\n#define MCG_BUNDLE_H\n#include <stdint.h>\n"
            f"#define MCG_BUNDLE_INPUT_SIZE {self.in_size}\n#define MCG_BUNDLE_OUTPUT_SIZE {self.out_size}\n"
            f"void {self.name}_invoke(const int8_t *in, int8_t *out);\n#endif\n"
        )
        includes = "\n".join(f'#include "{m.name}.h"' for m in self.models)
        (folder / f"{self.name}.c").write_text(
            f'#include "{self.name}.h"\n#include "mcg_arch.h"\n{includes}\n\n'
            f"static const int16_t MCG_FLASH which_model[{len(which)}] = {{\n{c_values(which)}\n}};\n"
            f"static uint16_t call;\n\n"
            f"void {self.name}_invoke(const int8_t *in, int8_t *out)\n{{\n"
            f"    switch (MCG_READ_S16(&which_model[call++])) {{\n{cases}\n    default: break;\n    }}\n}}\n"
        )

    def pack(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Concatenate int8 inputs (each (n_i, *shape), or packed (n_i, size)),
        padded to in_size."""
        rows = [np.pad(x.reshape(len(x), -1), ((0, 0), (0, self.in_size - x[0].size))) for x in inputs]
        return np.concatenate(rows).astype(np.int8)

    def unpack(self, outputs: np.ndarray, graphs: list[Graph]) -> list:
        """Per model, its output (N, *shape), or for a model with several
        outputs the list of them."""
        from ..host import unpack_outputs

        res, start = [], 0
        for g, n in zip(graphs, self.counts):
            size = sum(t.size for t in g.output_tensors)
            ys = unpack_outputs(g, outputs[start : start + n, :size])
            res.append(ys[0] if len(ys) == 1 else ys)
            start += n
        return res


class _BundleGraph:
    """What parse_uart needs of a graph: the output shape of the bundle."""

    def __init__(self, size: int):
        self.output = type("T", (), {"shape": (size,)})()


def run_bundle(target, graphs: list[Graph], models: list[CModel], inputs: list[np.ndarray]):
    """Run each model on its int8 inputs in one image; returns (outputs per model, TargetRun)."""
    from ..host import pack_inputs

    inputs = [pack_inputs(g, x) if isinstance(x, (list, tuple)) else x for g, x in zip(graphs, inputs)]
    b = Bundle(models, [len(x) for x in inputs])
    run = target.run(_BundleGraph(b.out_size), b, b.pack(inputs))
    return b.unpack(run.outputs, graphs), run


def groups(items: list, arena_of, budget: int) -> list[list]:
    """Split items so that the arenas of each group add up to at most budget."""
    out, cur, used = [], [], 0
    for it in items:
        a = arena_of(it)
        if cur and used + a > budget:
            out.append(cur)
            cur, used = [], 0
        cur.append(it)
        used += a
    return out + ([cur] if cur else [])
