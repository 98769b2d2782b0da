"""Shared test machinery: build a Keras model, convert it, check the float IR
against Keras, quantize, run the generated C on the host under ASan/UBSan and
compare it byte for byte, layer by layer, with the int8 reference."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture(scope="session")
def keras():
    import keras

    return keras


def randomize(model, seed: int = 0) -> None:
    """Give biases and BatchNormalization statistics non-trivial values."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            n = weights[0].shape[0]
            new = []
            names = [w.path.split("/")[-1] for w in layer.weights]
            for name in names:
                if name == "gamma":
                    new.append(rng.uniform(0.5, 1.5, n))
                elif name == "beta":
                    new.append(rng.normal(0, 0.2, n))
                elif name == "moving_mean":
                    new.append(rng.normal(0, 0.2, n))
                else:
                    new.append(rng.uniform(0.5, 1.5, n))
            layer.set_weights([w.astype(np.float32) for w in new])
        else:
            new = [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(np.float32) for w in weights]
            layer.set_weights(new)


@dataclass
class Roundtrip:
    graph: object
    float_err: float
    int8_err_steps: float
    exact: bool
    first_mismatch: str | None
    agreement: float  # share of inputs where int8 and float argmax agree


def roundtrip(model, x_calib: np.ndarray, x_test: np.ndarray, sanitize: bool = True) -> Roundtrip:
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_float, run_int8

    g = graph_from_keras(model, model.name)
    optimize(g)
    want = np.asarray(model.predict(x_test, verbose=0))
    got = run_float(g, x_test)[g.outputs[0]]
    float_err = float(np.max(np.abs(want.reshape(got.shape) - got) / (1.0 + np.abs(want.reshape(got.shape)))))
    quantize_graph(g, x_calib)
    xq = g.input.q.quantize(x_test)
    # The C runs the test inputs and raw int8 rows no calibration-like input
    # gives (all -128, all 127, alternating, random bytes): saturation and
    # the extreme accumulators are checked too.
    xq_all = np.concatenate([xq, edge_rows(g.input.shape)])
    ref_all = run_int8(g, xq_all)
    host = run_host(g, render(g, "test"), xq_all, sanitize=sanitize)
    first = None
    for op, layer in zip(g.ops, host.layers):
        if not np.array_equal(layer, ref_all[op.outputs[0]]):
            first = op.name
            break
    exact = first is None and np.array_equal(host.outputs, ref_all[g.outputs[0]])
    ref = {k: v[: len(xq)] for k, v in ref_all.items()}
    # int8 output against the float model on the same (quantized) inputs.
    yf = np.asarray(model.predict(g.input.q.dequantize(xq).astype(np.float32), verbose=0)).reshape(got.shape)
    yq = g.output.q.dequantize(ref[g.outputs[0]])
    steps = float(np.max(np.abs(yf - yq)) / g.output.q.scale)
    agreement = float(np.mean(np.argmax(yf.reshape(len(yf), -1), 1) == np.argmax(yq.reshape(len(yq), -1), 1)))
    return Roundtrip(g, float_err, steps, exact, first, agreement)


def edge_rows(shape, seed: int = 0) -> np.ndarray:
    """Raw int8 inputs: all -128, all 127, alternating -128 / 127 (both
    phases), and four rows of random bytes."""
    n = int(np.prod(shape))
    alt = np.where(np.arange(n) % 2 == 0, -128, 127)
    rows = [np.full(n, -128), np.full(n, 127), alt, -1 - alt]
    rows += list(np.random.default_rng(seed).integers(-128, 128, (4, n)))
    return np.stack(rows).reshape((len(rows),) + tuple(shape)).astype(np.int8)


def edit_tflite(data: bytes, change) -> bytes:
    """The .tflite file after ``change(S, model, subgraph)`` edits its object
    tree (the schema's object API: ``S`` the schema module, ``model`` the
    ModelT, ``subgraph`` its first subgraph), packed again."""
    import flatbuffers

    from mcugen.tflite.reader import schema

    S = schema()
    m = S.ModelT.InitFromPackedBuf(bytearray(data), 0)
    change(S, m, m.subgraphs[0])
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def int8_rows(shape, n: int = 48, seed: int = 4) -> np.ndarray:
    """n rows of random int8 bytes, then the raw edge rows (``edge_rows``)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(-128, 128, (n,) + tuple(shape)).astype(np.int8), edge_rows(shape, seed)])


def rand(shape, n=32, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, (n,) + tuple(shape)).astype(np.float32)


def mcugen_cmd() -> list[str]:
    """The installed `mcugen` command of this environment."""
    script = Path(sys.executable).with_name("mcugen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcugen.cli"]


def user_env() -> dict:
    """The environment of a user who never heard of TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP_", "ABSL"))}
    env.pop("PYTHONWARNINGS", None)
    return env


def run_mcugen_once(tmp_path_factory, key: str, setup, workers: int = 2, timeout: int = 600):
    """Run a batch of `mcugen` invocations once per test session and share the
    results: ``setup(work)`` prepares files in ``work`` and returns
    {name: args} ("{work}" in an argument is replaced by the folder). Each run
    pays a TensorFlow import, so they run in parallel; under pytest-xdist the
    first worker to take the lock does the work and the others read its
    record. Returns (work folder, {name: CompletedProcess})."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    work, record = root / f"{key}-shared", root / f"{key}-runs.json"
    with open(root / f"{key}-runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            cmds = {k: [a.replace("{work}", str(work)) for a in v] for k, v in setup(work).items()}
            env = user_env()

            def run(args):
                return subprocess.run(mcugen_cmd() + args, cwd=work, env=env, capture_output=True, text=True,
                                      timeout=timeout)

            with ThreadPoolExecutor(max_workers=workers) as pool:
                runs = dict(zip(cmds, pool.map(run, cmds.values())))
            record.write_text(json.dumps({k: [r.args, r.returncode, r.stdout, r.stderr] for k, r in runs.items()}))
    return work, {k: subprocess.CompletedProcess(*v) for k, v in json.loads(record.read_text()).items()}


# No silent skips (tests/skip_policy.py): the hooks run for the whole suite.
from skip_policy import pytest_make_collect_report, pytest_runtest_makereport, skip_unless_data  # noqa: E402,F401
