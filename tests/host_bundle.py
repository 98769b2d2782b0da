"""Many generated models in one host executable (ASan/UBSan), so a test with
hundreds of one-op models pays one compile: the target bundle
(mcugen/targets/bundle.py) with a harness that reads and writes files."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mcugen.host import CFLAGS, SANITIZE, find_compiler
from mcugen.targets.bundle import Bundle

HARNESS = r"""
#include <stdio.h>
#include "mcg_bundle.h"

int main(void)
{
    static int8_t in[MCG_BUNDLE_INPUT_SIZE];
    static int8_t out[MCG_BUNDLE_OUTPUT_SIZE];
    while (fread(in, 1, sizeof in, stdin) == sizeof in) {
        mcg_bundle_invoke(in, out);
        if (fwrite(out, 1, sizeof out, stdout) != sizeof out) {
            return 3;
        }
    }
    return 0;
}
"""


def run_host_bundle(graphs, models, inputs) -> list[np.ndarray]:
    """Each model's outputs on its int8 inputs, from one sanitized host build."""
    b = Bundle(models, [len(x) for x in inputs])
    with tempfile.TemporaryDirectory(prefix="mcugen-bundle-") as d:
        folder = Path(d)
        b.write(folder)
        (folder / "harness.c").write_text(HARNESS)
        exe = folder / "bundle"
        sources = [str(folder / f"{m.name}.c") for m in models] + [str(folder / "mcg_bundle.c"), str(folder / "harness.c")]
        subprocess.run([find_compiler(), *CFLAGS, *SANITIZE, "-I", str(folder), *sources, "-o", str(exe)],
                       check=True, capture_output=True, text=True)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        r = subprocess.run([str(exe)], input=b.pack(inputs).tobytes(), capture_output=True, env=env, check=True)
    out = np.frombuffer(r.stdout, dtype=np.int8).reshape(-1, b.out_size)
    return b.unpack(out, graphs)
