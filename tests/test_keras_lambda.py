"""A Keras Lambda layer is Python code saved as bytecode: it is refused by
name and never deserialized, let alone run (Keras' safe mode), in .keras and
.h5 files alike. The Lambda here leaves a mark on disk when it runs; loading
the file with Keras' safe mode off shows the mark works."""
from __future__ import annotations

import pytest

from mcugen.errors import UnsupportedLayer
from mcugen.keras_loader import load_graph


def lambda_touching(mark):
    """A Python lambda (saved as bytecode) that creates ``mark`` whenever it
    runs; the path is a constant of its code, so the bytecode alone does it."""
    return eval(f"lambda t: (open({str(mark)!r}, 'w').close(), t * 2)[1]")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_is_refused_by_name_and_never_run(keras, tmp_path, suffix):
    mark = tmp_path / "lambda_ran"
    L = keras.layers

    inp = keras.Input((8,))
    model = keras.Model(inp, L.Dense(3)(L.Lambda(lambda_touching(mark), name="double")(inp)))
    path = tmp_path / f"lambda{suffix}"
    model.save(path)
    mark.unlink(missing_ok=True)  # building the model ran it

    with pytest.raises(UnsupportedLayer) as e:
        load_graph(path)
    msg = str(e.value)
    assert "'double' (Lambda): Python code" in msg and "never loads or runs" in msg, msg
    assert not mark.exists(), "the Lambda's code ran"

    keras.models.load_model(path, compile=False, safe_mode=False)  # what mcugen never does
    assert mark.exists(), "the mark does not show a Lambda that runs"


def test_a_lambda_the_config_check_misses_is_still_never_run(keras, tmp_path, monkeypatch):
    """Keras' safe mode stands behind the saved-config check."""
    from mcugen import keras_loader

    mark = tmp_path / "lambda_ran"

    inp = keras.Input((8,))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Lambda(lambda_touching(mark), name="double")(inp)))
    path = tmp_path / "lambda.keras"
    model.save(path)
    mark.unlink(missing_ok=True)
    monkeypatch.setattr(keras_loader, "_refuse", lambda layers: None)
    with pytest.raises(UnsupportedLayer) as e:
        load_graph(path)
    assert "Lambda layer holds Python code" in str(e.value), str(e.value)
    assert not mark.exists()
