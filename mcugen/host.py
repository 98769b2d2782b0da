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

static FILE *trace_out;

void mcg_host_trace(int16_t layer, const int8_t *data, uint32_t bytes)
{
    (void)layer;
    if (fwrite(data, 1, bytes, trace_out) != bytes) {
        exit(3);
    }
}

int main(int argc, char **argv)
{
    static int8_t in[%(NAME)s_INPUT_SIZE];
    static int8_t out[%(NAME)s_OUTPUT_SIZE];
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
        if (fread(in, 1, sizeof in, fin) != sizeof in) {
            return 4;
        }
        %(name)s_invoke(in, out);
        if (fwrite(out, 1, sizeof out, fout) != sizeof out) {
            return 3;
        }
    }
    fclose(fin);
    fclose(fout);
    fclose(trace_out);
    return 0;
}
"""


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
    outputs: np.ndarray  # (N, *output shape) int8
    layers: list[np.ndarray]  # per op: (N, *op output shape) int8


def run_host(g: Graph, cm: CModel, xq: np.ndarray, sanitize: bool = True, workdir: Path | None = None) -> HostRun:
    """Compile ``cm`` with a harness and run it on the int8 inputs ``xq``."""
    cc = find_compiler()
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="mcugen-host-")) if own else workdir
    try:
        cm.write(folder)
        (folder / "mcg_host_harness.c").write_text(HARNESS % {"name": cm.name, "NAME": cm.name.upper()})
        exe = folder / "model_host"
        cmd = [cc, *CFLAGS, *(SANITIZE if sanitize else []), "-DMCG_TRACE_HOOK=mcg_host_trace",
               "-I", str(folder), str(folder / f"{cm.name}.c"), str(folder / "mcg_host_harness.c"), "-o", str(exe)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            from .fit import first_error

            raise McugenError(f"the host compiler rejected the generated C: {first_error(r.stderr, folder)}")
        xq = np.ascontiguousarray(xq, dtype=np.int8)
        (folder / "in.bin").write_bytes(xq.tobytes())
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        r = subprocess.run([str(exe), str(folder / "in.bin"), str(len(xq)), str(folder / "out.bin"), str(folder / "trace.bin")],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise McugenError(f"the generated C failed on the host ({_run_failure(r.returncode, r.stderr, folder)})")
        n = len(xq)
        outputs = np.frombuffer((folder / "out.bin").read_bytes(), dtype=np.int8).reshape((n,) + g.output.shape)
        trace = np.frombuffer((folder / "trace.bin").read_bytes(), dtype=np.int8)
        sizes = [g.tensors[op.outputs[0]].size for op in g.ops]
        per_input = trace.reshape(n, sum(sizes)) if sizes else trace.reshape(n, 0)
        layers, start = [], 0
        for op, size in zip(g.ops, sizes):
            layers.append(per_input[:, start : start + size].reshape((n,) + g.tensors[op.outputs[0]].shape))
            start += size
        return HostRun(outputs, layers)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
