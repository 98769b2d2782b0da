"""Compile the generated C for the host and run it on many inputs at once,
recording every layer's output through the trace hook."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .emit import CModel
from .errors import McugenError
from .ir import Graph

CFLAGS = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "%(name)s.h"
#include "mcg_runtime.h"

static FILE *trace_out;

void mcg_host_trace(int16_t layer, const int8_t *data, uint32_t bytes)
{
    (void)layer;
    if (fwrite(data, 1, bytes, trace_out) != bytes) {
        exit(3);
    }
}

/* One buffer per input and per output, each its exact size, so that the
 * sanitizer catches a kernel reading past the end of any of them. */
%(buffers)s

int main(int argc, char **argv)
{
    FILE *fin, *fout;
    long n, i;
    if (argc != 5) {
        return 2;
    }
    n = atol(argv[2]);
    fin = fopen(argv[1], "rb");
    fout = fopen(argv[3], "wb");
    trace_out = fopen(argv[4], "wb");
    if (!fin || !fout || !trace_out) {
        return 2;
    }
    for (i = 0; i < n; ++i) {
%(reads)s
        %(call)s;
%(writes)s
    }
    fclose(fin);
    fclose(fout);
    fclose(trace_out);
    return 0;
}
"""


def harness_source(cm: CModel) -> str:
    """The host harness: per sample, the inputs one after another from the
    input file, the outputs one after another to the output file."""
    ins = [f"in{k}" for k in range(len(cm.input_sizes))]
    outs = [f"out{k}" for k in range(len(cm.output_sizes))]
    buffers = [f"static int8_t {b}[{size}] MCG_ALIGNED(4);" for b, size in zip(ins + outs, cm.input_sizes + cm.output_sizes)]
    reads = "\n".join(f"        if (fread({b}, 1, sizeof {b}, fin) != sizeof {b}) {{\n            return 4;\n        }}"
                      for b in ins)
    writes = "\n".join(f"        if (fwrite({b}, 1, sizeof {b}, fout) != sizeof {b}) {{\n            return 3;\n        }}"
                       for b in outs)
    ctypes = (cm.input_ctypes or ["int8_t"] * len(ins)) + (cm.output_ctypes or ["int8_t"] * len(outs))
    consts = ["const "] * len(ins) + [""] * len(outs)
    args = [b if ct == "int8_t" else f"({k}{ct} *)(void *){b}" for b, ct, k in zip(ins + outs, ctypes, consts)]
    call = f"{cm.name}_invoke({', '.join(args)})"
    return HARNESS % {"name": cm.name, "buffers": "\n".join(buffers), "reads": reads, "writes": writes, "call": call}


def as_bytes(x: np.ndarray, t) -> np.ndarray:
    """(N, *shape) values of tensor ``t`` -> (N, t.nbytes) int8 bytes, an
    int16 value little-endian (as every target stores it)."""
    v = np.ascontiguousarray(np.asarray(x).astype(np.dtype(t.np_dtype).newbyteorder("<")))
    return v.reshape(len(v), -1).view(np.int8)


def from_bytes(b: np.ndarray, t) -> np.ndarray:
    """(N, t.nbytes) bytes -> (N, *t.shape) values of the tensor's dtype."""
    b = np.ascontiguousarray(np.asarray(b).astype(np.int8)).reshape(len(b), t.nbytes)
    return b.view(np.dtype(t.np_dtype).newbyteorder("<")).astype(t.np_dtype).reshape((len(b),) + t.shape)


def pack_inputs(g: Graph, xq) -> np.ndarray:
    """(N, sum of the inputs' bytes) int8: each sample's inputs one after another."""
    xs = g.input_arrays(xq)
    n = len(xs[0])
    if any(len(x) != n for x in xs):
        raise ValueError(f"input batches of {[len(x) for x in xs]} samples")
    return np.concatenate([as_bytes(x, t) for x, t in zip(xs, g.input_tensors)], axis=1) if xs else \
        np.zeros((n, 0), np.int8)


def _unpack(tensors, packed: np.ndarray) -> list[np.ndarray]:
    """(N, sum of the tensors' bytes) -> one (N, *shape) array per tensor."""
    packed = np.asarray(packed).reshape(len(packed), sum(t.nbytes for t in tensors))
    res, at = [], 0
    for t in tensors:
        res.append(from_bytes(packed[:, at : at + t.nbytes], t))
        at += t.nbytes
    return res


def unpack_inputs(g: Graph, packed: np.ndarray) -> list[np.ndarray]:
    """(N, sum of the input sizes) -> one (N, *shape) array per input."""
    return _unpack(g.input_tensors, packed)


def unpack_outputs(g: Graph, packed: np.ndarray) -> list[np.ndarray]:
    """(N, sum of the output sizes) -> one (N, *shape) array per output."""
    return _unpack(g.output_tensors, packed)


def find_compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise McugenError("no host C compiler found: install gcc (apt-get install gcc) or set CC")
    return cc


def _run_failure(code: int, stderr: str, folder: Path) -> str:
    """One line for a failed run: the sanitizer's report line, or the signal."""
    import re
    import signal

    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "runtime error:" in ln), None) or next(
        (ln for ln in lines if "ERROR: AddressSanitizer" in ln or "SUMMARY:" in ln), None)
    if pick is None:
        if code < 0:
            pick = f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
        else:
            pick = f"exit {code}" + (f": {lines[0]}" if lines else "")
    pick = re.sub(r"==\d+==", "", pick.replace(str(folder) + "/", "")).strip()
    from .limits import shown

    return shown(pick)[:300]


@dataclass
class HostRun:
    all_outputs: list[np.ndarray]  # per model output: (N, *output shape) int8
    layers: list[np.ndarray]  # per op: (N, *op output shape) int8

    @property
    def outputs(self) -> np.ndarray:
        """The output of a one-output model."""
        if len(self.all_outputs) != 1:
            raise ValueError(f"the model has {len(self.all_outputs)} outputs: use all_outputs")
        return self.all_outputs[0]


def run_host(g: Graph, cm: CModel, xq, sanitize: bool = True, workdir: Path | None = None) -> HostRun:
    """Compile ``cm`` with a harness and run it on the int8 inputs ``xq``
    (one batch per model input, or the batch of a one-input model)."""
    cc = find_compiler()
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="mcugen-host-")) if own else workdir
    try:
        cm.write(folder)
        (folder / "mcg_host_harness.c").write_text(harness_source(cm))
        exe = folder / "model_host"
        cmd = [cc, *CFLAGS, *(SANITIZE if sanitize else []), "-DMCG_TRACE_HOOK=mcg_host_trace",
               "-I", str(folder), str(folder / f"{cm.name}.c"), str(folder / "mcg_host_harness.c"), "-o", str(exe)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            from .fit import first_error

            raise McugenError(f"the host compiler rejected the generated C: {first_error(r.stderr, folder)}")
        xq = np.ascontiguousarray(pack_inputs(g, xq))
        (folder / "in.bin").write_bytes(xq.tobytes())
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        r = subprocess.run([str(exe), str(folder / "in.bin"), str(len(xq)), str(folder / "out.bin"), str(folder / "trace.bin")],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise McugenError(f"the generated C failed on the host ({_run_failure(r.returncode, r.stderr, folder)})")
        n = len(xq)
        outputs = unpack_outputs(g, np.frombuffer((folder / "out.bin").read_bytes(), dtype=np.int8).reshape(n, cm.output_size))
        trace = np.frombuffer((folder / "trace.bin").read_bytes(), dtype=np.int8)
        sizes = [g.tensors[op.outputs[0]].nbytes for op in g.ops]
        per_input = trace.reshape(n, sum(sizes)) if sizes else trace.reshape(n, 0)
        layers, start = [], 0
        for op, size in zip(g.ops, sizes):
            layers.append(from_bytes(per_input[:, start : start + size], g.tensors[op.outputs[0]]))
            start += size
        return HostRun(outputs, layers)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
