"""Keras model file -> float IR graph.

Walks the Keras 3 functional graph (Sequential models expose the same one)
from the output back to the input, so ops come out in topological order, and
hands each layer to the converter registered for its class in ``mcugen.ops``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .errors import McugenError, UnsupportedLayer, one_line
from .ir import Graph
from .limits import MAX_DIM, MAX_TENSOR_BYTES, check_input_file, check_shape, shown
from .ops import KERAS_CONVERTERS, supported_layers
from .ops.tfoplambda import keras_class as tfoplambda_class
from .ops.tfoplambda import rewrite_config as rewrite_tfoplambda

MODEL_SUFFIXES = (".h5", ".hdf5", ".keras")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point fd 2 at /dev/null. TensorFlow's C++ side logs INFO lines to stderr
    while it loads (absl, before InitializeLog), and TF >= 2.20 ignores
    TF_CPP_MIN_LOG_LEVEL for them; Python exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:
        import keras

        return keras
    try:
        quiet = int(os.environ["TF_CPP_MIN_LOG_LEVEL"]) >= 2
    except ValueError:
        quiet = True
    with _native_stderr_silenced() if quiet else contextlib.nullcontext():
        import keras

    return keras


def _saved_config(path: Path) -> dict | None:
    """The model's architecture as saved in the file (no layer is built), or
    None when it cannot be read (then ``load_model`` reports the problem)."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("config.json"))
        import h5py

        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
        if isinstance(config, bytes):
            config = config.decode("utf-8")
        return json.loads(config) if config is not None else None
    except Exception:
        return None


def _saved_layers(config) -> list[tuple[str, str, bool]]:
    """(name, class, is a nested model) of each layer of a saved config."""
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    out = []
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict):
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            out.append((str(cfg.get("name", "?")), str(layer.get("class_name", "?")), isinstance(cfg.get("layers"), list)))
    return out


# Layer config keys that hold sizes: each int in them must be what the int16
# kernels represent (checked before Keras builds a layer and allocates it).
SIZE_KEYS = ("units", "filters", "kernel_size", "pool_size", "strides", "dilation_rate", "depth_multiplier",
             "batch_shape", "batch_input_shape", "target_shape", "padding", "size", "cropping", "input_dim",
             "output_dim", "groups")


def check_config_sizes(config) -> None:
    """Refuse, by layer, sizes in a saved config beyond what mcugen's kernels
    represent (Keras would allocate them first: a Dense of 10^9 units)."""

    def ints(v):
        if isinstance(v, bool):
            return []
        if isinstance(v, int):
            return [v]
        if isinstance(v, (list, tuple)):
            return [x for item in v for x in ints(item)]
        if isinstance(v, dict):  # {"class_name": "__tuple__", "config": {"value": [...]}}
            return ints(v.get("config", {}).get("value", [])) if isinstance(v.get("config"), dict) else []
        return []

    def walk(obj, layer: str):
        if isinstance(obj, dict):
            cfg = obj.get("config") if isinstance(obj.get("config"), dict) else None
            if cfg is not None and "class_name" in obj:
                layer = f"{shown(str(cfg.get('name', '?')))[:80]!r} ({shown(str(obj.get('class_name')))[:40]})"
            for k, v in obj.items():
                if k in SIZE_KEYS:
                    for x in ints(v):
                        if not -1 <= x <= MAX_DIM:
                            raise McugenError(f"layer {layer}: {k} {x:,} is outside [0, {MAX_DIM:,}], what the "
                                              "kernels represent (int16)")
                if k in ("batch_shape", "batch_input_shape"):
                    size = 1
                    for x in ints(v):
                        size *= max(x, 1)
                    if size > MAX_TENSOR_BYTES:
                        raise McugenError(f"layer {layer}: input of {size:,} values, more than the "
                                          f"{MAX_TENSOR_BYTES:,} mcugen plans for")
                walk(v, layer)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, layer)

    walk(config, "?")


def load_keras_model(path: str | Path):
    path = Path(path)
    check_input_file(path, "model file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise McugenError(f"{shown(path)}: not a Keras model file (expected {', '.join(MODEL_SUFFIXES)}, "
                          "or a .tflite file)")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise McugenError(f"{path}: not a valid .keras file (not a complete zip archive)")
    if path.suffix.lower() != ".keras":
        import h5py

        if not h5py.is_hdf5(path):
            raise McugenError(f"{path}: not a Keras model file (not an HDF5 file)")
    # Refuse unsupported layers before Keras deserializes them (a Lambda
    # would otherwise fail in safe mode with a message naming no layer).
    config = _saved_config(path)
    tf_ops = rewrite_tfoplambda(config)  # Keras 2's arithmetic TFOpLambda layers, or refused by name
    _refuse(_saved_layers(config))
    _refuse_unmappable(config)
    check_config_sizes(config)
    keras = import_keras()
    objects = _keras2_compat(keras, config)
    rewritten = tf_ops or (path.suffix.lower() != ".keras" and _strip_wrapped_neutral_keys(config))
    with tempfile.TemporaryDirectory() as tmp:
        if rewritten:  # read a copy holding the rewritten config
            import h5py

            if tf_ops:
                objects["TFOpLambda"] = tfoplambda_class(keras)
            copy = Path(tmp) / path.name
            shutil.copyfile(path, copy)
            with h5py.File(copy, "r+") as f:
                f.attrs["model_config"] = json.dumps(config)
        try:
            # safe_mode: a Lambda's bytecode is never deserialized, even one the
            # saved config above did not show (Keras then refuses the file).
            model = keras.models.load_model(str(copy if rewritten else path), compile=False, safe_mode=True,
                                            custom_objects=objects)
        except Exception as e:  # Keras raises many kinds for a corrupt file
            if "safe_mode" in str(e):
                raise UnsupportedLayer(f"{shown(path)}: a Lambda layer holds Python code saved as bytecode, "
                                       "which mcugen never loads or runs") from None
            raise McugenError(f"{shown(path)}: cannot be read as a Keras model ({shown(load_error_reason(e))})"
                              ) from None
    return model


# Keys that Keras 2.x (TensorFlow 2.x's tf.keras) saved in a layer's config and
# Keras 3 rejects, with the one value each may have for the layer to mean the
# same without it: a DepthwiseConv2D always had ``groups: 1`` (the key came
# from its Conv base class and was never used).
KERAS2_NEUTRAL_KEYS = {
    "DepthwiseConv2D": {"groups": 1},
    "SeparableConv1D": {"groups": 1},
    "SeparableConv2D": {"groups": 1},
    # tf.keras' recurrent layers: batch-major input was the only form a
    # model with a fixed (T, F) input shape could take.
    "GRU": {"time_major": False},
    "SimpleRNN": {"time_major": False},
}


def _configs_of(config, cls: str) -> list[dict]:
    """The configs of the model's layers of class ``cls``, those a wrapper
    (Bidirectional: "layer", "backward_layer") holds included."""
    out = []
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    todo = list(layers) if isinstance(layers, list) else []
    while todo:
        layer = todo.pop(0)
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            continue
        if layer.get("class_name") == cls:
            out.append(layer["config"])
        todo += [layer["config"].get(k) for k in ("layer", "backward_layer")]
    return out


def _refuse_unmappable(config) -> None:
    """A Keras 2 key with a value Keras 3 has no way to express."""
    for cls, keys in KERAS2_NEUTRAL_KEYS.items():
        for cfg in _configs_of(config, cls):
            for key, neutral in keys.items():
                if key in cfg and cfg[key] != neutral:
                    raise UnsupportedLayer(f"layer {cfg.get('name', '?')!r} ({cls}): {key}={cfg[key]!r} "
                                           f"(saved by Keras 2) has no Keras 3 equivalent")


def _strip_wrapped_neutral_keys(config) -> bool:
    """Drop the neutral Keras 2 keys from the layers a wrapper holds
    (Bidirectional's GRU): Keras 3 builds those from their module, past the
    subclasses of ``_keras2_compat``. True if the config changed."""
    changed = False
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        cfg = layer.get("config") if isinstance(layer, dict) else None
        for inner in ([cfg.get(k) for k in ("layer", "backward_layer")] if isinstance(cfg, dict) else []):
            if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
                continue
            for key in KERAS2_NEUTRAL_KEYS.get(inner.get("class_name"), {}):
                if key in inner["config"]:
                    del inner["config"][key]
                    changed = True
    return changed


def _keras2_compat(keras, config) -> dict:
    """custom_objects that let Keras 3 read a Keras 2.x file: for each layer
    class of the file with keys Keras 3 rejects, a subclass of the same name
    that drops them (``_refuse_unmappable`` made sure their values are the
    neutral ones)."""
    objects = {}
    for cls, keys in KERAS2_NEUTRAL_KEYS.items():
        if not _configs_of(config, cls):
            continue
        base = getattr(keras.layers, cls)

        def __init__(self, *args, _base=base, _keys=tuple(keys), **kwargs):
            for k in _keys:
                kwargs.pop(k, None)
            _base.__init__(self, *args, **kwargs)

        objects[cls] = type(cls, (base,), {"__init__": __init__, "__module__": base.__module__})
    return objects


def load_error_reason(e: Exception, limit: int = 400) -> str:
    """Why Keras could not read a file, in one line: the innermost reason
    (Keras wraps it after 'Exception encountered:' behind the whole layer
    config), shortened in the middle, never cut before the reason."""
    text = str(e).strip() or type(e).__name__
    if "Exception encountered:" in text:
        text = text.rsplit("Exception encountered:", 1)[1].strip()
    return one_line(text, limit)


class LayerContext:
    """What a converter sees: the graph, the layer's input tensor names and
    the name of its (already created) output tensor."""

    def __init__(self, g: Graph, layer, inputs: list[str], output: str):
        self.g = g
        self.layer = layer
        self.name = layer.name
        self.inputs = inputs
        self.output = output
        self.aliased_to: str | None = None
        self._tmp = 0

    def add(self, op) -> None:
        self.g.ops.append(op)

    def tmp(self, shape, suffix: str) -> str:
        self._tmp += 1
        name = f"{self.output}/{suffix}"
        while name in self.g.tensors:
            name = f"{self.output}/{suffix}{self._tmp}"
        self.g.add_tensor(name, shape)
        return name

    def alias(self) -> None:
        """The layer is the identity at inference: its output is its input."""
        self.aliased_to = self.inputs[0]

    def unsupported(self, detail: str):
        raise UnsupportedLayer(f"layer {self.name!r} ({type(self.layer).__name__}): unsupported {detail}")


def _shape(tensor, what: str) -> tuple[int, ...]:
    dims = tuple(tensor.shape)[1:]
    if any(d is None for d in dims):
        raise McugenError(f"{what} has shape {tuple(tensor.shape)}: every dimension but the batch must be fixed")
    dims = tuple(int(d) for d in dims)
    check_shape(dims, shown(what))
    return dims


def _refuse(layers: list[tuple[str, str, bool]]) -> None:
    """Raise UnsupportedLayer naming every (name, class, is a nested model)
    that mcugen cannot convert."""
    bad = []
    for name, cls, nested in layers:
        if nested:
            bad.append(f"{name!r} (nested model {cls})")
        elif cls == "Lambda" and cls not in KERAS_CONVERTERS:
            bad.append(f"{name!r} ({cls}): Python code saved as bytecode, which mcugen never loads or runs")
        elif cls != "InputLayer" and cls not in KERAS_CONVERTERS:
            bad.append(f"{name!r} ({cls})")
    if bad:
        raise UnsupportedLayer(
            f"unsupported layer{'s' if len(bad) > 1 else ''} {', '.join(bad)}; supported: {', '.join(supported_layers())}"
        )


def check_layers(model) -> None:
    """Refuse unsupported layers up front, naming each."""
    keras = import_keras()
    _refuse([
        (layer.name, type(layer).__name__ if isinstance(layer, keras.layers.Layer) else f"{type(layer).__name__}, not a layer",
         isinstance(layer, keras.Model))
        for layer in _all_layers(model)
    ])


def _all_layers(model):
    return list(getattr(model, "layers", []))


def graph_from_keras(model, name: str) -> Graph:
    if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
        raise McugenError("the model has no defined input shape (build it, or save it after calling it once)")
    check_layers(model)
    g = Graph(name=name)
    names: dict[tuple, str] = {}  # keras history key -> tensor name

    def key(t):
        op, node_index, tensor_index = t._keras_history
        return (id(op), node_index, tensor_index)

    def visit(t) -> str:
        k = key(t)
        if k in names:
            return names[k]
        layer, node_index, tensor_index = t._keras_history
        node = layer._inbound_nodes[node_index]
        if type(layer).__name__ == "InputLayer" or not node.input_tensors:
            tname = layer.name if layer.name not in g.tensors else f"{layer.name}:{node_index}"
            g.add_tensor(tname, _shape(t, f"input {layer.name!r}"))
            g.inputs.append(tname)
            names[k] = tname
            return tname
        inputs = [visit(x) for x in node.input_tensors]
        if type(layer).__name__ not in KERAS_CONVERTERS:  # a keras.ops call in a functional model: not in .layers
            raise UnsupportedLayer(f"{shown(layer.name)!r} ({type(layer).__name__}): unsupported Keras operation; "
                                   f"supported layers: {', '.join(supported_layers())}")
        if len(node.output_tensors) != 1:
            raise UnsupportedLayer(f"layer {layer.name!r} ({type(layer).__name__}): more than one output")
        tname = layer.name if layer.name not in g.tensors else f"{layer.name}:{node_index}"
        g.add_tensor(tname, _shape(t, f"output of layer {layer.name!r}"))
        cx = LayerContext(g, layer, inputs, tname)
        n_ops = len(g.ops)
        try:
            KERAS_CONVERTERS[type(layer).__name__](layer, cx)
            from .shapes import check_op_shapes

            for op in g.ops[n_ops:]:  # Keras' output shape must be the one the op computes
                check_op_shapes(g, op)
        except McugenError:
            raise
        except (IndexError, KeyError, ValueError, TypeError, AttributeError, ZeroDivisionError, OverflowError) as e:
            raise McugenError(f"layer {shown(layer.name)!r} ({type(layer).__name__}): unsupported configuration "
                              f"({type(e).__name__}: {shown(str(e).splitlines()[0] if str(e) else '')[:120]})"
                              ) from None
        if cx.aliased_to is not None:
            del g.tensors[tname]
            tname = cx.aliased_to
        names[k] = tname
        return tname

    for t in model.inputs:  # the model's inputs first, in its order (the C API's order)
        visit(t)
    declared = list(g.inputs)
    for t in model.outputs:
        g.outputs.append(visit(t))
    if g.inputs != declared:
        raise McugenError("an output depends on a tensor that is not one of the model's inputs")
    if all(t in g.inputs for t in g.outputs):
        raise McugenError("the model's output is its input (nothing is computed)" if len(g.outputs) == 1
                          else "every output of the model is one of its inputs (nothing is computed)")
    g.input_names = list(g.inputs)
    g.output_names = _output_names(model, g.outputs)
    g.prune()
    return g


def _output_names(model, tensors: list[str]) -> list[str]:
    """The name of each output as Keras knows it: the output layer's name
    (``model.output_names``), else the tensor's."""
    names = list(getattr(model, "output_names", None) or [])
    return [str(n) for n in names] if len(names) == len(tensors) else list(tensors)


def load_graph(path: str | Path):
    """(keras model, float graph) for a model file."""
    model = load_keras_model(path)
    g = graph_from_keras(model, Path(path).stem)
    tf_safe_names(model)
    return model, g


_TF_SCOPE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.>-]*")


def tf_safe_names(model) -> None:
    """Rename, on the loaded Keras model only, the model and layers whose names
    TensorFlow refuses as name scopes (spaces, non-ASCII, ...): otherwise
    ``model.predict`` fails. The IR, hence the C, keeps the original names."""
    for i, obj in enumerate([model, *_all_layers(model)]):
        if not _TF_SCOPE.fullmatch(obj.name):
            obj.name = f"mcugen_{i}_" + re.sub(r"[^A-Za-z0-9_.-]", "_", obj.name)
