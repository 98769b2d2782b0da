"""Models with several inputs and outputs, in every command: a Keras
functional model with two inputs of different shapes (a conv branch and a
dense branch, concatenated) and two heads, and the same model converted by
TFLiteConverter (int8 I/O). Checked: the generated API, the host C against
the reference (every output, bit for bit), TFLM byte for byte on both
outputs, the PlatformIO project (sketch and golden test compiled and run on
the host), simavr and QEMU, and the calibration file's one-line refusals."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcugen.errors import McugenError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    """(model.keras, calib.npz, model.tflite) of a two-input, two-output model."""
    from keras import layers as L

    from mcugen.tflite_quantizer import convert_keras

    keras.utils.set_random_seed(3)
    image = keras.Input((6, 6, 2), name="image")
    features = keras.Input((5,), name="features")
    x = L.Conv2D(4, 3, activation="relu")(image)
    x = L.GlobalAveragePooling2D()(x)
    y = L.Dense(6, activation="relu")(features)
    z = L.Concatenate()([x, y])
    cls = L.Dense(4, activation="softmax", name="cls")(z)
    box = L.Dense(3, name="box")(z)
    model = keras.Model([image, features], [cls, box])
    d = tmp_path_factory.mktemp("multi")
    model.save(d / "two.keras")
    rng = np.random.default_rng(0)
    xa = rng.uniform(0, 1, (48, 6, 6, 2)).astype(np.float32)
    xb = rng.normal(size=(48, 5)).astype(np.float32)
    np.savez(d / "calib.npz", image=xa, features=xb)
    (d / "two.tflite").write_bytes(convert_keras(model, [xa, xb]))
    return d / "two.keras", d / "calib.npz", d / "two.tflite"


@pytest.fixture(scope="module")
def prepared(files):
    from mcugen.pipeline import prepare

    model, calib, tfl = files
    return {"keras": prepare(model, calib), "tflite": prepare(tfl, calib)}


def edge_inputs(g, n_random=6, seed=5):
    """Per input: all -128, all 127, then random bytes."""
    rng = np.random.default_rng(seed)
    xs = []
    for t in g.input_tensors:
        x = rng.integers(-128, 128, size=(n_random + 2,) + t.shape).astype(np.int8)
        x[0], x[1] = -128, 127
        xs.append(x)
    return xs


def test_graphs_keep_the_models_inputs_and_outputs(prepared):
    g = prepared["keras"].graph
    assert g.io_names() == (["image", "features"], ["cls", "box"])
    assert [g.shape(t) for t in g.inputs] == [(6, 6, 2), (5,)]
    assert [g.shape(t) for t in g.outputs] == [(4,), (3,)]
    t = prepared["tflite"].graph
    ins, outs = t.io_names()
    assert sorted(ins) == ["features", "image"] and sorted(outs) == ["output_0", "output_1"]
    with pytest.raises(ValueError):
        g.input  # noqa: B018 - no single input to take silently


@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_host_c_bit_exact_on_every_output(prepared, kind):
    from mcugen.check import run_check
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.reference import run_int8

    p = prepared[kind]
    g = p.graph
    r = run_check(p, n=8)
    assert (r.bit_exact, r.inputs, r.first_mismatch_layer) == (8, 8, None)
    assert len(r.outputs) == 2 and all(o.bit_exact == 8 for o in r.outputs)
    xq = edge_inputs(g)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, "two"), xq, sanitize=True)
    assert len(host.all_outputs) == 2
    for got, t in zip(host.all_outputs, g.outputs):
        assert got.shape == (len(xq[0]),) + g.shape(t)
        assert np.array_equal(got, ref[t])
    assert len({y.tobytes() for y in host.all_outputs[0]}) > 1  # the inputs matter


def test_each_output_depends_on_its_own_branch(prepared):
    """The two inputs reach the C through their own pointers: changing only
    the features changes the outputs as the reference says."""
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.reference import int8_outputs

    g = prepared["keras"].graph
    img, feat = edge_inputs(g, n_random=2)
    feat2 = feat.copy()
    feat2[:, 0] = -feat2[:, 0] - 1
    host = run_host(g, render(g, "two"), [np.concatenate([img, img]), np.concatenate([feat, feat2])])
    want = int8_outputs(g, [np.concatenate([img, img]), np.concatenate([feat, feat2])])
    assert all(np.array_equal(a, b) for a, b in zip(host.all_outputs, want))
    assert not np.array_equal(want[1][:4], want[1][4:])


def test_tflite_both_outputs_byte_identical_to_tflm(prepared):
    from mcugen.oracles import run_oracle
    from mcugen.reference import run_int8

    p = prepared["tflite"]
    g = p.graph
    xq = edge_inputs(g)
    ref = run_int8(g, xq)
    tflm = run_oracle("tflm", p.tflite, xq)
    assert len(tflm.all_outputs) == 2
    for theirs, t in zip(tflm.all_outputs, g.outputs):
        assert np.array_equal(theirs, ref[t]), t


def test_compare_meets_the_target_on_every_output(prepared):
    from mcugen.compare import run_compare

    r = run_compare(prepared["tflite"], n=6)
    assert r.ok and r.c_matches_reference, r.notes
    assert r.oracles["tflm"].identical_bytes_ratio == 1.0


def test_keras_with_tflite_quantizer_matches_keras_order(files):
    """TFLiteConverter orders the signature its own way; the samples and the
    float model follow the names."""
    from mcugen.check import run_check
    from mcugen.pipeline import prepare

    model, calib, _ = files
    p = prepare(model, calib, quantizer="tflite")
    assert sorted(p.graph.io_names()[1]) == ["box", "cls"]
    r = run_check(p, n=6)
    assert r.bit_exact == 6
    assert r.float_max_abs_err < 0.1  # the right float head was compared


def test_header_api(prepared):
    from mcugen.emit import render

    h = render(prepared["keras"].graph).header
    assert "#define TWO_INPUTS 2" in h and "#define TWO_OUTPUTS 2" in h
    for macro in ("INPUT_IMAGE_SIZE 72", "INPUT_FEATURES_SIZE 5", "OUTPUT_CLS_SIZE 4", "OUTPUT_BOX_SIZE 3",
                  "INPUT_IMAGE_SCALE", "OUTPUT_BOX_ZERO_POINT"):
        assert f"#define TWO_{macro}" in h
    assert "void two_invoke(const int8_t *image, const int8_t *features, int8_t *cls, int8_t *box);" in h
    assert "void two_reset(void);" in h
    assert "two_quantize_features(float x)" in h and "two_dequantize_box(int8_t q)" in h
    assert "TWO_INPUT_SIZE" not in h and "two_quantize_input" not in h  # no single input to name


def test_single_io_model_keeps_the_short_names(keras):
    from keras import layers as L

    from mcugen.emit import render
    from mcugen.keras_loader import graph_from_keras
    from mcugen.quantize import quantize_graph

    inp = keras.Input((4,), name="int8_t")  # a name that would shadow the type
    model = keras.Model(inp, L.Dense(2, name="out")(inp))
    g = graph_from_keras(model, "one")
    quantize_graph(g, np.random.default_rng(0).normal(size=(8, 4)))
    h = render(g).header
    for macro in ("ONE_INPUT_SIZE 4", "ONE_OUTPUT_SIZE 2", "ONE_INPUT_SCALE", "ONE_OUTPUT_ZERO_POINT", "ONE_INPUTS 1"):
        assert f"#define {macro}" in h
    assert "void one_invoke(const int8_t *in, int8_t *out);" in h  # the parameters it always had
    assert "one_quantize_input(float x)" in h and "one_dequantize_output(int8_t q)" in h
    assert "one_quantize_input_int8_t(float x)" in h and "one_dequantize_output_out(int8_t q)" in h


def test_project_sketch_and_golden_test_cover_every_output(tmp_path, prepared):
    from mcugen.boards import get_board
    from mcugen.emit import render
    from mcugen.project import write_project
    from mcugen.reference import int8_outputs

    p = prepared["keras"]
    g = p.graph
    board = get_board("uno")
    cm = render(g, board=board)
    xq = g.quantize_inputs([x[2:5] for x in p.samples])
    proj = write_project(tmp_path / "p", g, cm, board, xq)
    lib = proj / "lib" / cm.name
    obj = tmp_path / "model.o"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-I", str(lib), str(lib / f"{cm.name}.c"),
                    "-o", str(obj)], check=True)
    exe = tmp_path / "sketch"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-I", str(lib),
                    "-I", str(ROOT / "tests" / "arduino_stub"), str(proj / "src" / "main.cpp"), "-x", "none", str(obj),
                    "-o", str(exe)], check=True)
    text = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    ys = int8_outputs(g, xq)
    m = re.search(r"cls: top class: (\d+)", text)
    assert m and int(m.group(1)) == int(np.argmax(ys[0][0])), text
    for name, y in zip(("cls", "box"), ys):
        assert f"{name}: output bytes: " + " ".join(str(int(v)) for v in y[0]) in text, text
    assert "reference: match" in text

    test_c = proj / "test" / "test_model" / "test_main.c"
    golden = tmp_path / "golden"

    def run(source: Path):
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(lib), "-I",
                        str(ROOT / "tests" / "unity_stub"), str(lib / f"{cm.name}.c"), str(source), "-o", str(golden)],
                       check=True)
        return subprocess.run([str(golden)], capture_output=True, text=True)

    assert run(test_c).returncode == 0
    # A byte of the second output of sample 2 flipped: the test names both.
    text_c = test_c.read_text()
    head, rest = text_c.split("golden_output_box[", 1)
    decl, body = rest.split("{", 1)
    values, tail = body.split("}", 1)
    nums = [int(v) for v in values.replace("\n", " ").split(",")]
    nums[2 * 3 + 1] ^= 1
    broken = tmp_path / "broken.c"
    broken.write_text(f"{head}golden_output_box[{decl}{{\n    {', '.join(map(str, nums))}\n}}{tail}")
    r = run(broken)
    assert r.returncode != 0 and "sample 2, output box" in r.stdout, r.stdout


@pytest.mark.parametrize("kind,board", [("keras", "uno"), ("tflite", "qemu_m4")])
def test_verify_on_simulators(prepared, kind, board):
    from mcugen.boards import get_board
    from mcugen.verify import run_verify

    r = run_verify(prepared[kind], get_board(board), n=4)
    assert (r.bit_exact, r.inputs, r.first_mismatch_layer) == (4, 4, None)


def test_target_run_returns_every_output(prepared):
    from mcugen.boards import get_board
    from mcugen.emit import render
    from mcugen.reference import int8_outputs
    from mcugen.targets import get_target

    p = prepared["tflite"]
    g = p.graph
    board = get_board("uno")
    xq = edge_inputs(g, n_random=1)
    run = get_target(board).run(g, render(g, board=board), xq)
    assert all(np.array_equal(a, b) for a, b in zip(run.all_outputs, int8_outputs(g, xq)))


def test_inspect_and_build_json_list_inputs_and_outputs(files, tmp_path):
    from click.testing import CliRunner

    from mcugen.cli import main

    model, calib, _ = files
    r = CliRunner().invoke(main, ["inspect", str(model), "--calib", str(calib), "--json"])
    assert r.exit_code == 0, r.output
    import json

    t = json.loads(r.output)["totals"]
    assert [(i["name"], i["c_name"], i["shape"]) for i in t["inputs"]] == [("image", "image", [6, 6, 2]),
                                                                           ("features", "features", [5])]
    assert [o["name"] for o in t["outputs"]] == ["cls", "box"] and t["input_shape"] is None
    r = CliRunner().invoke(main, ["inspect", str(model), "--calib", str(calib)])
    assert "input 1 'features' (C: features) (5,)" in r.output and "output 1 'box'" in r.output


def test_calibration_file_per_input(files, tmp_path):
    from mcugen.pipeline import prepare

    model, calib, _ = files
    rng = np.random.default_rng(1)
    xa = rng.uniform(0, 1, (8, 6, 6, 2)).astype(np.float32)
    xb = rng.normal(size=(8, 5)).astype(np.float32)
    positional = tmp_path / "pos.npz"
    np.savez(positional, x0=xa, x1=xb)
    p = prepare(model, positional)
    assert [len(x) for x in p.samples] == [8, 8] and np.array_equal(p.samples[1], xb)
    cases = {
        "missing.npz": (dict(image=xa), r"holds image; the model's 2 inputs need one array each: 'image' \(or 'x0'\) "
                                        r"shaped \(N, 6, 6, 2\), 'features' \(or 'x1'\) shaped \(N, 5\)"),
        "shape.npz": (dict(image=xa, features=xb[:, :4]), r"\(input 'features'\) has shape \(8, 4\); the model "
                                                           r"expects \(N, 5\)"),
        "count.npz": (dict(image=xa, features=xb[:5]), r"different numbers of samples \('image' 8, 'features' 5\)"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(McugenError, match=message):
            prepare(model, tmp_path / name)
    np.save(tmp_path / "one.npy", xa)
    with pytest.raises(McugenError, match="a .npy file holds one array"):
        prepare(model, tmp_path / "one.npy")


EVAL_N = 24


@pytest.fixture(scope="module")
def eval_data(files, tmp_path_factory):
    """Inputs for ``eval`` (not the calibration rows) and labels: the Keras
    model's own classes with the first rows' shifted, so no column scores 1,
    and the box head's argmax as its classes."""
    from keras.models import load_model

    model, _, _ = files
    rng = np.random.default_rng(11)
    xa = rng.uniform(0, 1, (EVAL_N, 6, 6, 2)).astype(np.float32)
    xb = rng.normal(size=(EVAL_N, 5)).astype(np.float32)
    cls, box = load_model(model).predict([xa, xb], verbose=0)
    y_cls = cls.argmax(axis=1)
    y_cls[:6] = (y_cls[:6] + 1) % 4
    y_box = box.argmax(axis=1)
    y_box[-5:] = (y_box[-5:] + 1) % 3
    return {"d": tmp_path_factory.mktemp("eval"), "image": xa, "features": xb, "cls": y_cls, "box": y_box}


def accuracy(pred, labels) -> float:
    return float(np.mean(np.asarray(pred).argmax(axis=1) == labels))


def litert_by_name(tflite: Path, image, features) -> dict[str, np.ndarray]:
    """LiteRT (reference kernels) on the file through its signature, inputs
    and outputs by name: nothing of mcugen's ordering involved."""
    from mcugen.oracles import litert_api

    interpreter, types, _ = litert_api()
    it = interpreter(model_content=tflite.read_bytes(), experimental_op_resolver_type=types.BUILTIN_REF)
    run = it.get_signature_runner()
    feeds = {}
    for name, x in (("image", image), ("features", features)):
        scale, zp = run.get_input_details()[name]["quantization"]
        feeds[name] = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    outs = [run(image=feeds["image"][i : i + 1], features=feeds["features"][i : i + 1]) for i in range(len(image))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def test_eval_scores_every_output_of_a_keras_model(files, eval_data):
    """Two inputs, two outputs, the converted model ordering both its own way
    (features first, output_1 first): every column against what the test
    computes itself, by name."""
    from keras.models import load_model

    from mcugen.evaluate import run_eval
    from mcugen.pipeline import prepare
    from mcugen.reference import run_int8
    from mcugen.tflite.loader import load_tflite

    model, calib, tfl = files
    e = eval_data
    assert load_tflite(tfl).graph.io_names() == (["features", "image"], ["output_1", "output_0"])
    # labels by output name (cls) and by position (y1 = box); inputs by x0, x1
    np.savez(e["d"] / "both.npz", x0=e["image"], x1=e["features"], y_cls=e["cls"], y1=e["box"])
    r = run_eval(model, e["d"] / "both.npz", calib)
    assert [o.name for o in r.outputs] == ["cls", "box"] and r.skipped == [] and r.samples == EVAL_N
    cls, box = load_model(model).predict([e["image"], e["features"]], verbose=0)
    assert r.outputs[0].float == accuracy(cls, e["cls"]) == (EVAL_N - 6) / EVAL_N
    assert r.outputs[1].float == accuracy(box, e["box"]) == (EVAL_N - 5) / EVAL_N
    g = prepare(model, calib).graph
    ref = run_int8(g, g.quantize_inputs([e["image"], e["features"]]))
    lite = litert_by_name(tfl, e["image"], e["features"])  # the file eval's conversion equals (same calibration)
    t = prepare(tfl, calib).graph
    ours = run_int8(t, t.quantize_inputs([{"image": e["image"], "features": e["features"]}[n]
                                          for n in t.io_names()[0]]))
    ours = dict(zip(t.io_names()[1], (ours[o] for o in t.outputs)))
    for o, name, tname in ((r.outputs[0], "cls", "output_0"), (r.outputs[1], "box", "output_1")):
        assert o.mcugen_int8 == accuracy(ref[g.outputs[g.io_names()[1].index(name)]], e[name]), name
        assert o.tflite_int8 == accuracy(lite[tname], e[name]), name
        assert o.mcugen_tflite_int8 == accuracy(ours[tname], e[name]), name
    assert (r.float, r.mcugen_int8, r.tflite_int8, r.mcugen_tflite_int8) == (
        r.outputs[0].float, r.outputs[0].mcugen_int8, r.outputs[0].tflite_int8, r.outputs[0].mcugen_tflite_int8)
    assert len({(o.float, o.tflite_int8) for o in r.outputs}) == 2  # the heads are told apart


def test_eval_of_the_tflite_file_and_an_output_without_labels(files, eval_data):
    """The .tflite file scores as TFLiteConverter's column of the Keras run;
    an output with no labels is skipped with a note, by name in the JSON and
    the table."""
    import json

    from click.testing import CliRunner

    from mcugen.cli import main

    model, calib, tfl = files
    e = eval_data
    np.savez(e["d"] / "named.npz", image=e["image"], features=e["features"], y_output_0=e["cls"],
             y_output_1=np.eye(3)[e["box"]])  # one-hot labels
    np.savez(e["d"] / "box_only.npz", image=e["image"], features=e["features"], y_box=e["box"])
    lite = litert_by_name(tfl, e["image"], e["features"])
    res = CliRunner().invoke(main, ["eval", str(tfl), "--data", str(e["d"] / "named.npz"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output.strip().splitlines()[-1])
    by_name = {o["name"]: o for o in d["outputs"]}
    assert sorted(by_name) == ["output_0", "output_1"] and d["float"] is None
    for name, labels in (("output_0", e["cls"]), ("output_1", e["box"])):
        assert by_name[name]["tflite_int8"] == accuracy(lite[name], labels), name
        assert by_name[name]["mcugen_int8"] == by_name[name]["mcugen_tflite_int8"]
    res = CliRunner().invoke(main, ["eval", str(model), "--data", str(e["d"] / "box_only.npz"), "--calib", str(calib)])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if "box" in line or "cls" in line]
    assert any(re.search(r"box\W+\d+\.\d+%", line) for line in rows), res.output
    assert "output 'cls' not scored" in " ".join(res.output.split())
    res = CliRunner().invoke(main, ["eval", str(model), "--data", str(e["d"] / "box_only.npz"), "--calib",
                                    str(calib), "--json"])
    d = json.loads(res.output.strip().splitlines()[-1])
    assert [o["name"] for o in d["outputs"]] == ["box"] and d["skipped"] == ["cls"]
    assert d["float"] == d["outputs"][0]["float"] == (EVAL_N - 5) / EVAL_N


def test_eval_mae_applies_to_every_output(files, eval_data):
    from keras.models import load_model

    from mcugen.evaluate import run_eval

    model, calib, _ = files
    e = eval_data
    np.savez(e["d"] / "regress.npz", image=e["image"], features=e["features"], y0=np.eye(4)[e["cls"]],
             y_box=np.zeros((EVAL_N, 3)))
    r = run_eval(model, e["d"] / "regress.npz", calib, metric="mae")
    cls, box = load_model(model).predict([e["image"], e["features"]], verbose=0)
    want = [np.mean(np.abs(cls.astype(np.float64) - np.eye(4)[e["cls"]])), np.mean(np.abs(box.astype(np.float64)))]
    assert [o.name for o in r.outputs] == ["cls", "box"]
    assert [o.float for o in r.outputs] == pytest.approx(want, rel=1e-6)
    assert all(abs(o.mcugen_int8 - o.float) < 0.05 for o in r.outputs)


def test_eval_refusals_of_several_outputs(files, eval_data):
    from mcugen.evaluate import run_eval

    model, calib, _ = files
    e = eval_data
    x = dict(image=e["image"], features=e["features"])
    cases = {
        "none.npz": (dict(x, y=e["cls"]), r"no labels for any of the 2 outputs; name them 'y_cls' or 'y0' shaped "
                                          r"\(N,\) or \(N, 4\), 'y_box' or 'y1'"),
        "short.npz": (dict(x, y_cls=e["cls"][:5]), r"\(array 'y_cls', output 'cls'\): 24 inputs but 5 labels$"),
        "onehot.npz": (dict(x, y_box=np.eye(4)[e["box"]]), r"\(array 'y_box', output 'box'\): labels shaped "
                                                            r"\(24, 4\); accuracy needs class indices"),
        "no_input.npz": (dict(image=e["image"], y_cls=e["cls"]), r"'features' \(or 'x1'\) shaped \(N, 5\)"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(e["d"] / name, **arrays)
        with pytest.raises(McugenError, match=message):
            run_eval(model, e["d"] / name, calib)
    np.savez(e["d"] / "auc.npz", **x, y_cls=e["cls"] > 1)
    with pytest.raises(McugenError, match=r"auc scores a one-value output .*two.keras.s output .cls. has 4 values"):
        run_eval(model, e["d"] / "auc.npz", calib, metric="auc")
    np.savez(e["d"] / "mae.npz", **x, y0=np.eye(4)[e["cls"]], y_box=np.zeros((EVAL_N, 2)))
    with pytest.raises(McugenError, match=r"labels shaped \(24, 2\); mae needs one target per output value, "
                                          r"\(N, 3\)"):
        run_eval(model, e["d"] / "mae.npz", calib, metric="mae")


def test_outputs_that_are_views_of_an_input_or_feed_other_layers(keras):
    """An output that is an input's view (read in the caller's buffer and
    copied out), an output that a later layer reads, and one computed first
    that no layer reads (both kept alive to the end, not overwritten)."""
    from keras import layers as L

    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_int8

    a = keras.Input((2, 3), name="a")
    b = keras.Input((4,), name="b")
    flat = L.Flatten(name="flat")(a)
    mid = L.Dense(5, name="mid")(L.Concatenate()([flat, b]))
    last = L.Dense(2, name="last")(L.ReLU()(mid))
    early = L.Dense(3, name="early")(b)
    model = keras.Model([a, b], [early, flat, mid, last])
    g = graph_from_keras(model, "edges")
    optimize(g)
    rng = np.random.default_rng(2)
    quantize_graph(g, [rng.normal(size=(16, 2, 3)), rng.normal(size=(16, 4))])
    assert g.io_names()[1] == ["early", "flat", "mid", "last"]
    assert g.ops[0].outputs == ["early"]
    cm = render(g)
    assert "memcpy(flat, a, 6);" in cm.source
    xq = edge_inputs(g)
    ref = run_int8(g, xq)
    host = run_host(g, cm, xq)
    for got, t in zip(host.all_outputs, g.outputs):
        assert np.array_equal(got, ref[t]), t
    assert np.array_equal(host.all_outputs[1].reshape(len(xq[0]), -1), xq[0].reshape(len(xq[0]), -1))
