"""Hostile and odd inputs, one by one: files that are not regular files,
resource bombs, names that collide with what mcugen writes or with system
headers, tensor names that would break C comments, extreme weights and
dimensions beyond the int16 kernels. Each case's outcome is pinned: refused
with one line giving this reason, or built into C that compiles and is
bit-exact under the sanitizers."""
from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mcugen.check import run_check
from mcugen.cli import main
from mcugen.errors import McugenError
from mcugen.pipeline import prepare

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def one_error(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("mcugen: warning")]
    assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("mcugen: error: "), r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory):
    d = tmp_path_factory.mktemp("robust")
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((8,)), L.Dense(6, activation="relu"), L.Dense(4)], name="mlp")
    m.save(d / "mlp.h5")
    np.savez(d / "calib.npz", x=np.random.default_rng(0).uniform(-1, 1, (16, 8)).astype(np.float32))
    return d


def test_fifo_and_devices_are_refused_at_once(models, tmp_path):
    fifo = tmp_path / "m.h5"
    os.mkfifo(fifo)
    zero = tmp_path / "z.tflite"
    zero.symlink_to("/dev/zero")
    calib_zero = tmp_path / "c.npy"
    calib_zero.symlink_to("/dev/zero")
    done = []

    def run():
        done.extend([one_error(cli("check", fifo)), one_error(cli("check", zero)),
                     one_error(cli("check", models / "mlp.h5", "--calib", calib_zero))])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert len(done) == 3, "a FIFO or /dev/zero blocked mcugen"
    assert "is a FIFO" in done[0] and "is a device" in done[1] and "is a device" in done[2]
    assert "is a folder" in one_error(cli("check", tmp_path))


def test_npy_header_declaring_1e9_samples(models, tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.zeros((4, 8), np.float32))
    raw = buf.getvalue().replace(b"(4, 8)", b"(1000000000, 8)")
    (tmp_path / "bomb.npy").write_bytes(raw)
    assert "truncated" in one_error(cli("check", models / "mlp.h5", "--calib", tmp_path / "bomb.npy"))


def test_calibration_samples_are_capped_and_said_so(models, tmp_path):
    from mcugen.data import MAX_SAMPLES

    np.save(tmp_path / "many.npy", np.random.default_rng(0).uniform(-1, 1, (MAX_SAMPLES + 5, 8)).astype(np.float32))
    said = []
    p = prepare(models / "mlp.h5", tmp_path / "many.npy", warn=said.append)
    assert len(p.calib) == MAX_SAMPLES
    assert any(f"holds {MAX_SAMPLES + 5:,} samples; using the first {MAX_SAMPLES:,}" in w for w in said)


@pytest.mark.parametrize("name", ["string", "stdint", "harness", "probe", "main", "mcg_arch"])
def test_model_names_never_collide(models, tmp_path, name):
    """A model called string.h5 would write string.h and shadow <string.h>;
    harness.h5 and probe.h5 would overwrite the host harness and the fit probe."""
    path = tmp_path / f"{name}.h5"
    path.write_bytes((models / "mlp.h5").read_bytes())
    r = run_check(prepare(path, models / "calib.npz"), n=4)
    assert r.bit_exact == r.inputs == 4
    if name == "probe":
        b = cli("build", path, "--board", "uno", "--calib", models / "calib.npz", "-o", tmp_path / "proj")
        assert b.exit_code == 0, b.stderr
        assert "linked ELF" in b.stdout and "estimate" not in b.stdout
        assert (tmp_path / "proj" / "lib" / "probe_model" / "probe_model.h").is_file()


def test_odd_output_paths(models, tmp_path):
    odd = tmp_path / "x[/]y" / "proj[bold]"
    r = cli("build", models / "mlp.h5", "--board", "uno", "--calib", models / "calib.npz", "-o", odd)
    assert r.exit_code == 0, r.stderr
    assert (odd / "platformio.ini").is_file() and "proj[bold]" in r.stdout
    long = tmp_path / ("n" * 300) / "proj"
    assert "bytes long" in one_error(cli("build", models / "mlp.h5", "--board", "uno", "-o", long))
    assert not any(p.name.startswith("n" * 10) for p in tmp_path.iterdir())
    assert "bytes long" in one_error(cli("check", tmp_path / ("m" * 300 + ".h5")))


def test_tflite_tensor_names_with_comment_marks_and_bad_utf8(keras, tmp_path):
    import flatbuffers

    from mcugen.tflite.reader import schema
    from mcugen.tflite_quantizer import convert_keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(2, 3, padding="same"), L.Flatten(), L.Dense(3)])
    calib = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
    S = schema()
    model = S.ModelT.InitFromPackedBuf(bytearray(convert_keras(m, calib)), 0)
    for i, t in enumerate(model.subgraphs[0].tensors):
        t.name = [b"a*/b/*c", b"\xff\xfe\x80 not utf-8", b"line\nbreak??/", b"%s%n"][i % 4]
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    (tmp_path / "names.tflite").write_bytes(bytes(b.Output()))
    p = prepare(tmp_path / "names.tflite")
    r = run_check(p, n=4)
    assert r.bit_exact == r.inputs == 4
    ins = cli("inspect", tmp_path / "names.tflite")
    assert ins.exit_code == 0, ins.stderr


# Each extreme weight's outcome, pinned: None = accepted and bit-exact, else
# the refusal it must get. -9.6e37 and 3e38 make activations whose int8 scale
# of the hidden layer (about 4e35, 1e36) is beyond the [1e-30, 1e30] mcugen's requantization
# multipliers are defined for; 1e30 and -1e-30 stay inside and must build.
EXTREME_WEIGHTS = {
    -9.6e37: r"^tensor 'hidden' \(its values, .*are too large or too small for int8\): scale \S+ is outside \[1e-30, 1e30\]$",
    3e38: r"^tensor 'hidden' \(its values, .*are too large or too small for int8\): scale \S+ is outside \[1e-30, 1e30\]$",
    1e30: None,
    -1e-30: None,
}


@pytest.mark.parametrize("value", sorted(EXTREME_WEIGHTS))
def test_extreme_weights_pinned(keras, tmp_path, value):
    import re

    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((8,)), L.Dense(6, activation="relu", name="hidden"), L.Dense(4, name="out")])
    w = m.layers[0].get_weights()
    w[0][0, 0] = value
    m.layers[0].set_weights(w)
    m.save(tmp_path / "ext.h5")
    refusal = EXTREME_WEIGHTS[value]
    if refusal is not None:
        with pytest.raises(McugenError) as e:
            prepare(tmp_path / "ext.h5", warn=lambda s: None)
        assert re.match(refusal, str(e.value)), str(e.value)
        return
    p = prepare(tmp_path / "ext.h5", warn=lambda s: None)
    r = run_check(p, n=16)  # UBSan aborts on a signed overflow: McugenError
    assert r.bit_exact == r.inputs == 16


def test_dimensions_beyond_int16_are_refused(keras, tmp_path):
    L = keras.layers
    m = keras.Sequential([keras.Input((40000, 1)), L.Conv1D(2, 3), L.GlobalAveragePooling1D()])
    m.save(tmp_path / "long.h5")
    msg = one_error(cli("check", tmp_path / "long.h5"))
    assert "40,000" in msg and "int16" in msg


def test_input_is_not_copied_into_the_arena(models):
    from mcugen.emit import render

    p = prepare(models / "mlp.h5", models / "calib.npz")
    cm = render(p.graph)
    assert "memcpy(mlp_arena" not in cm.source and "(in, mlp_arena" in cm.source.replace("mcg_dense_s8(", "(")
    # The arena holds the 6 hidden values and the 4 outputs, not the 8 inputs.
    assert cm.plan.arena_size == 10


def test_compiler_and_sanitizer_failures_are_one_line(models, tmp_path, monkeypatch):
    p = prepare(models / "mlp.h5", models / "calib.npz")
    bad = tmp_path / "badcc"
    bad.write_text("#!/bin/sh\nfor i in $(seq 30); do echo \"x.c:$i: error: something $i\" >&2; done\nexit 1\n")
    bad.chmod(bad.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(bad))
    with pytest.raises(McugenError) as e:
        run_check(p, n=2)
    assert "\n" not in str(e.value) and "error: something 1" in str(e.value)
    boom = tmp_path / "boom.h"
    boom.write_text("#include <limits.h>\n__attribute__((constructor)) static void mcg_boom(void)"
                    "{ volatile int x = INT_MAX; x = x + 1; (void)x; }\n")
    ub = tmp_path / "ubcc"
    ub.write_text(f"#!/bin/sh\nexec gcc -include {boom} \"$@\"\n")
    ub.chmod(ub.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(ub))
    with pytest.raises(McugenError) as e:
        run_check(p, n=2)
    assert "\n" not in str(e.value) and "runtime error" in str(e.value) and "signed integer overflow" in str(e.value)
