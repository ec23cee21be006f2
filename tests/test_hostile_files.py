"""Model files made to hurt: weights that do not fit their layer, non-finite numbers,
names with control characters, shapes and archives that would exhaust the machine,
cycles, data kept outside the file. Each ends in one readable message naming the layer
and what was expected, exit status 1, no traceback, nothing written."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from excelnet.cli import main

from conftest import random_init
from hostile_files import edit_keras, run_measured, find_layer, layer_configs, members, replace_dataset, write_zip

CONV_BIAS, CONV_KERNEL = "layers/conv2d/vars/1", "layers/conv2d/vars/0"
DENSE_BIAS, DENSE_KERNEL = "layers/dense/vars/1", "layers/dense/vars/0"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Conv2D(2, 3×3) -> ReLU -> Flatten -> Dense(3, softmax) on 5×5×1, as .keras and Keras 3 .h5."""
    import keras

    folder = tmp_path_factory.mktemp("base")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 5, 1)), keras.layers.Conv2D(2, 3, name="conv", **random_init(1)),
                              keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3, activation="softmax", name="dense", **random_init(3))],
                             name="base")
    model.save(folder / "base.keras")
    model.save(folder / "base.h5")
    return folder / "base.keras"


def _build(*args: str):
    return CliRunner().invoke(main, ["build", *args])


def _refused(result, *words: str) -> str:
    """One clean failure: exit 1, no traceback, every word in the message, nothing raw."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for word in words:
        assert word.lower() in result.output.lower(), (word, result.output)
    assert not any(ch in result.output for ch in "\x00\x01\x1b\ud800"), repr(result.output)
    return result.output


def _refused_build(model: Path, tmp_path: Path, *words: str) -> str:
    output = tmp_path / "out.xlsx"
    output.write_bytes(b"an earlier workbook")
    text = _refused(_build("-m", str(model), "-o", str(output)), *words)
    assert output.read_bytes() == b"an earlier workbook"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.xlsx")] == []
    return text


# --- weights that do not fit their layer ------------------------------------------------------

def _h5_special(kind: str):
    import h5py

    def edit(h5):
        if kind == "text":
            replace_dataset(h5, CONV_BIAS, data=np.array([b"ab", b"cd"]))
        elif kind == "compound":
            replace_dataset(h5, CONV_BIAS, data=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
        elif kind == "reference":
            refs = np.array([h5.ref, h5.ref], dtype=h5py.ref_dtype)
            replace_dataset(h5, CONV_BIAS, data=refs, dtype=h5py.ref_dtype)
        elif kind == "variable length":
            dataset_type = h5py.vlen_dtype(np.float32)
            replace_dataset(h5, CONV_BIAS, shape=(2,), dtype=dataset_type)
    return edit


WRONG_WEIGHTS = {
    # case: (edit of the weights file, words the message must hold)
    "conv bias of the wrong length": (lambda h5: replace_dataset(h5, CONV_BIAS, data=np.ones(3, "f4")),
                                      ["'conv' (Conv2D)", "bias has shape (3,); expected (2,)"]),
    "conv bias of the wrong rank": (lambda h5: replace_dataset(h5, CONV_BIAS, data=np.ones((2, 1), "f4")),
                                    ["'conv' (Conv2D)", "bias has shape (2, 1); expected (2,)"]),
    "dense bias of the wrong size": (lambda h5: replace_dataset(h5, DENSE_BIAS, data=np.ones(5, "f4")),
                                     ["'dense' (Dense)", "bias has shape (5,); expected (3,)"]),
    "5-D conv kernel": (lambda h5: replace_dataset(h5, CONV_KERNEL, data=np.ones((3, 3, 1, 2, 1), "f4")),
                        ["'conv' (Conv2D)", "kernel has shape (3, 3, 1, 2, 1); expected (3, 3, 1, 2)"]),
    "missing bias": (lambda h5: h5.__delitem__(CONV_BIAS),
                     ["'conv' (Conv2D)", "1 weight array but a Conv2D with this config has 2 (kernel, bias)"]),
    "20 biases for 2 filters": (lambda h5: replace_dataset(h5, CONV_BIAS, data=np.ones(20, "f4")),
                                ["expected (2,)"]),
    "3-D dense kernel": (lambda h5: replace_dataset(h5, DENSE_KERNEL, data=np.ones((18, 3, 1), "f4")),
                         ["'dense' (Dense)", "kernel has shape (18, 3, 1); expected (18, 3)"]),
    "complex kernel": (lambda h5: replace_dataset(h5, DENSE_KERNEL, data=np.ones((18, 3), "c8")),
                       ["'dense' (Dense)", "complex numbers"]),
    "integer kernel": (lambda h5: replace_dataset(h5, DENSE_KERNEL, data=np.ones((18, 3), "i4")),
                       ["'dense' (Dense)", "int32", "floating-point"]),
    "text bias": (_h5_special("text"), ["'conv'", "holds text, not numbers"]),
    "compound bias": (_h5_special("compound"), ["'conv'", "compound records, not numbers"]),
    "reference bias": (_h5_special("reference"), ["'conv'", "references, not numbers"]),
    "variable-length bias": (_h5_special("variable length"), ["'conv'", "variable-length", "not numbers"]),
}


@pytest.mark.parametrize("case", list(WRONG_WEIGHTS))
def test_weights_that_do_not_fit_the_layer_are_named(base, tmp_path, case):
    edit, words = WRONG_WEIGHTS[case]
    model = edit_keras(base, tmp_path / "bad.keras", weights=edit)
    _refused_build(model, tmp_path, *words)


def test_every_misfit_is_listed_at_once(base, tmp_path):
    def edit(h5):
        replace_dataset(h5, CONV_BIAS, data=np.ones(3, "f4"))
        replace_dataset(h5, DENSE_KERNEL, data=np.ones((18, 3), "c8"))

    text = _refused_build(edit_keras(base, tmp_path / "bad.keras", weights=edit), tmp_path,
                          "2 parts", "'conv' (Conv2D)", "'dense' (Dense)")
    assert "complex" in text and "expected (2,)" in text


# --- numbers that are not finite --------------------------------------------------------------

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [CONV_KERNEL, DENSE_BIAS])
def test_non_finite_weights_are_refused(base, tmp_path, value, where):
    def edit(h5):
        data = np.array(h5[where])
        data.flat[0] = value
        replace_dataset(h5, where, data=data)

    layer = "'conv' (Conv2D)" if "conv" in where else "'dense' (Dense)"
    _refused_build(edit_keras(base, tmp_path / "bad.keras", weights=edit), tmp_path,
                   layer, "1 NaN or infinite value")


def _with_layer(config: dict, index: int, layer: dict) -> dict:
    layer_configs(config).insert(index, layer)
    return config


SETTINGS = {
    "ReLU max_value": ("ReLU", {"max_value": math.nan}, "max_value=nan is not a finite number"),
    "ReLU threshold": ("ReLU", {"threshold": math.inf}, "threshold=inf is not a finite number"),
    "ReLU negative_slope": ("ReLU", {"negative_slope": -math.inf}, "negative_slope=-inf"),
    "LeakyReLU slope": ("LeakyReLU", {"negative_slope": math.nan}, "negative_slope=nan"),
    "ELU alpha": ("ELU", {"alpha": math.inf}, "alpha=inf"),
    "Rescaling scale": ("Rescaling", {"scale": math.nan, "offset": 0.0}, "scale=nan"),
    "Rescaling offset": ("Rescaling", {"scale": 1.0, "offset": [math.inf]}, "offset=[inf]"),
    "ReLU max_value as text": ("ReLU", {"max_value": "6"}, "max_value='6' is not a number"),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_non_finite_layer_settings_are_refused(base, tmp_path, case):
    class_name, settings, words = SETTINGS[case]
    layer = {"module": "keras.layers", "class_name": class_name, "config": {"name": "odd", **settings}}
    model = edit_keras(base, tmp_path / "bad.keras", config=lambda c: _with_layer(c, 3, layer))
    text = _refused_build(model, tmp_path, f"'odd' ({class_name})", words)
    assert "nan)" not in text.split("Supported")[0].replace("=nan", "")


# --- names ------------------------------------------------------------------------------------

HOSTILE_NAMES = {"escape": "conv\x1b[31mred", "control": "a\x01b", "NUL": "nul\x00byte",
                 "lone surrogate": "half\ud800pair", "bidi override": "abc\u202edef"}


@pytest.mark.parametrize("case", list(HOSTILE_NAMES))
def test_control_characters_in_names_are_shown_escaped(base, tmp_path, case):
    from openpyxl import load_workbook

    name = HOSTILE_NAMES[case]

    def rename(config):
        find_layer(config, "conv")["config"]["name"] = name
        config["config"]["name"] = name + "_model"
        return config

    model = edit_keras(base, tmp_path / "names.keras", config=rename)
    output = tmp_path / "names.xlsx"
    result = _build("-m", str(model), "-o", str(output), "--labels", f"x,{name},z")
    assert result.exit_code == 0, result.output
    texts = [cell.value for sheet in load_workbook(output).worksheets for row in sheet.iter_rows()
             for cell in row if isinstance(cell.value, str)]
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in name)
    assert any(escaped in text for text in texts), (escaped, [t for t in texts if "conv" in t or "a" in t][:5])
    assert not any(ch in text for text in texts for ch in "\x00\x01\x1b\ud800\u202e")


def test_names_in_error_messages_are_escaped(base, tmp_path):
    def edit(config):
        layer = find_layer(config, "relu")
        layer["class_name"], layer["config"]["name"] = "Evil\x1b[2J", "wipe\x1b[2J\x07"
        return config

    text = _refused_build(edit_keras(base, tmp_path / "evil.keras", config=edit), tmp_path,
                          "'wipe\\x1b[2J\\x07' (Evil\\x1b[2J)")
    assert "\x1b" not in text and "\x07" not in text


def test_a_lone_surrogate_on_the_command_line_is_escaped(tmp_path):
    run = subprocess.run([sys.executable, "-m", "excelnet", "build", "-m", b"/nonexistent/\xff\xfe.keras",
                          "-o", str(tmp_path / "o.xlsx")], capture_output=True, timeout=120)
    assert run.returncode == 1 and b"Traceback" not in run.stderr, run.stderr
    assert b"\\udcff\\udcfe.keras" in run.stderr and b"no such file" in run.stderr


# --- memory and time --------------------------------------------------------------------------

def _input_shape(config: dict, shape: list) -> dict:
    layer_configs(config)[0]["config"]["batch_shape"] = [None, *shape]
    return config


def test_a_huge_declared_input_is_refused_at_once(tmp_path):
    """A few-kB model declaring a 1000×1000 input: refused from its shapes in seconds,
    naming the budget, instead of planned until the memory runs out."""
    import keras

    model = keras.Sequential([keras.Input((1000, 1000, 1)), keras.layers.Conv2D(2, 3, name="wide"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.save(tmp_path / "wide.keras")
    assert (tmp_path / "wide.keras").stat().st_size < 50_000
    started = time.perf_counter()
    text = _refused_build(tmp_path / "wide.keras", tmp_path, "about", "budget of 3,000,000",
                          "'wide' (Conv2D)", "--max-cells")
    assert time.perf_counter() - started < 10, text
    summary = CliRunner().invoke(main, ["summary", "-m", str(tmp_path / "wide.keras")])
    _refused(summary, "budget of 3,000,000")


def test_max_cells_sets_the_budget(base, tmp_path):
    _refused(_build("-m", str(base), "-o", str(tmp_path / "o.xlsx"), "--max-cells", "50"), "budget of 50")
    assert _build("-m", str(base), "-o", str(tmp_path / "o.xlsx"), "--max-cells", "5000").exit_code == 0
    # verify plans the model again: it takes the same budget
    verify = ["verify", str(tmp_path / "o.xlsx"), "-m", str(base), "--engine", "formulas", "-n", "1", "-q"]
    _refused(CliRunner().invoke(main, verify + ["--max-cells", "50"]), "budget of 50")
    run = CliRunner().invoke(main, verify + ["--max-cells", "5000"])
    assert run.exit_code == 0, run.output


@pytest.mark.parametrize("shape", [[0, 5, 1], [-3, 5, 1], [5.5, 5, 1], ["5", 5, 1], [True, 5, 1]])
def test_nonsense_input_shapes_are_refused(base, tmp_path, shape):
    model = edit_keras(base, tmp_path / "bad.keras", config=lambda c: _input_shape(c, shape))
    _refused_build(model, tmp_path, "input shape", "whole numbers of at least 1")


def test_a_cycle_of_layers_is_refused(tmp_path):
    """A Functional config whose inbound nodes loop back: named, not followed forever."""
    import keras

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="a")(inputs)
    path = tmp_path / "f.keras"
    keras.Model(inputs, keras.layers.Dense(2, name="b")(hidden)).save(path)

    def loop(config):
        layers = {l["name"]: l for l in layer_configs(config)}
        layers["x"]["inbound_nodes"] = json.loads(json.dumps(layers["a"]["inbound_nodes"]).replace('"x"', '"b"'))
        return config

    _refused_build(edit_keras(path, tmp_path / "cycle.keras", config=loop), tmp_path, "cycle", "'x' → 'a' → 'b' → 'x'")


def _bomb(base: Path, target: Path, member: str, size: int) -> Path:
    contents = members(base)
    if member == "config.json":     # still valid JSON: the real config, then a sea of spaces
        contents[member] = contents[member] + b" " * size
    else:
        contents[member] = b"\0" * size
    return write_zip(target, contents)


@pytest.mark.parametrize("member", ["config.json", "metadata.json", "model.weights.h5"])
def test_zip_bombs_are_refused_reading_little(base, tmp_path, member):
    """Each member inflates to 200 MB from a few hundred kB: refused after reading at most the
    cap, in a fresh process whose peak memory stays far below what the member inflates to."""
    bomb = _bomb(base, tmp_path / "bomb.keras", member, 200 * 2**20)
    assert bomb.stat().st_size < 2 * 2**20
    run, peak = run_measured("build", "-m", str(bomb), "-o", str(tmp_path / "o.xlsx"))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "inflates to more than" in run.stderr and member in run.stderr, run.stderr
    assert peak < 300 * 2**20, peak
    assert not (tmp_path / "o.xlsx").exists()


def test_a_zip_of_many_members_is_refused(base, tmp_path):
    contents = members(base) | {f"junk/{i}": b"" for i in range(1500)}
    _refused_build(write_zip(tmp_path / "many.keras", contents, zipfile.ZIP_STORED), tmp_path, "1,503 files")


def test_a_dataset_declared_huge_is_refused_before_reading(base, tmp_path):
    """Compressed zeros declare 100 million weights in a few kB: refused from the declared size."""
    def edit(h5):
        replace_dataset(h5, DENSE_KERNEL, shape=(10_000, 10_000), dtype="f4", chunks=(1000, 1000),
                        compression="gzip", fillvalue=0.0)

    _refused_build(edit_keras(base, tmp_path / "huge.keras", weights=edit), tmp_path, "declares 100,000,000 numbers")


# --- data kept outside the file ---------------------------------------------------------------

def _external(h5):
    replace_dataset(h5, CONV_BIAS, shape=(2,), dtype="u1", external=[("/etc/passwd", 0, 2)])


def _virtual(h5):
    import h5py

    layout = h5py.VirtualLayout(shape=(2,), dtype="f4")
    layout[:] = h5py.VirtualSource("/tmp/elsewhere.h5", "data", shape=(2,))
    del h5[CONV_BIAS]
    h5["layers/conv2d/vars"].create_virtual_dataset("1", layout, fillvalue=0)


def _external_link(h5):
    import h5py

    del h5[CONV_BIAS]
    h5["layers/conv2d/vars"]["1"] = h5py.ExternalLink("/tmp/elsewhere.h5", "/data")


@pytest.mark.parametrize("edit, words", [(_external, "external file ('/etc/passwd')"),
                                         (_virtual, "virtual dataset"),
                                         (_external_link, "link into another file")])
def test_data_outside_the_model_file_is_refused(base, tmp_path, edit, words):
    text = _refused_build(edit_keras(base, tmp_path / "leak.keras", weights=edit), tmp_path, words,
                          "only data stored inside the model file")
    assert "root:" not in text and "114, 111" not in text


def test_external_storage_in_a_legacy_h5_is_refused(base, tmp_path):
    import h5py
    import shutil

    model = shutil.copy(base.with_suffix(".h5"), tmp_path / "leak.h5")
    with h5py.File(model, "r+") as h5:
        group = h5["model_weights/conv"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        replace_dataset(h5, f"model_weights/conv/{name}", shape=(2,), dtype="u1",
                        external=[("/etc/passwd", 0, 2)])
    _refused_build(Path(model), tmp_path, "external file", "/etc/passwd")


# --- Keras' own rule for .keras weights ---------------------------------------------------------

def test_weights_are_found_by_path_as_keras_finds_them(base, tmp_path):
    """Layer names edited in config.json: Keras still loads the file (weights by path, in class
    order), and so does excelnet, with the same numbers."""
    import keras

    from excelnet.convert import load_network

    def rename(config):
        for layer in layer_configs(config):
            layer["config"]["name"] = "renamed_" + layer["config"]["name"]
        return config

    edited = edit_keras(base, tmp_path / "renamed.keras", config=rename)
    expected = keras.saving.load_model(edited)
    x = np.random.default_rng(0).uniform(0, 1, (5, 5, 1)).astype("float32")
    network = load_network(edited)
    assert [op.name for op in network.ops][0] == "renamed_conv"
    np.testing.assert_allclose(network.predict(x), expected.predict(x[None], verbose=0)[0], rtol=1e-5, atol=1e-6)
    assert _build("-m", str(edited), "-o", str(tmp_path / "r.xlsx")).exit_code == 0


def test_an_internal_error_is_never_shown_as_the_reason(base, tmp_path, monkeypatch):
    from excelnet.ops import base as ops_base

    def broken(layer, shape, context):
        raise IndexError("tuple index out of range")

    monkeypatch.setitem(ops_base.CONVERTERS, "Flatten", broken)
    text = _refused_build(base, tmp_path, "'flat' (Flatten)", "config is not that of a Flatten layer")
    assert "IndexError" not in text and "tuple index" not in text


# --- the output, the model path and other arguments ---------------------------------------------

def test_output_that_is_not_xlsx_is_refused(base, tmp_path):
    _refused(_build("-m", str(base), "-o", str(tmp_path / "out.csv")), "does not end in .xlsx", "out.xlsx")
    assert not (tmp_path / "out.csv").exists()


def test_output_without_a_suffix_gets_xlsx_and_says_so(base, tmp_path):
    result = _build("-m", str(base), "-o", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert "added .xlsx" in result.output and (tmp_path / "report.xlsx").exists()
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("how", ["trailing slash", "existing folder"])
def test_output_that_is_a_folder_is_refused_plainly(base, tmp_path, how):
    folder = tmp_path / "somedir"
    if how == "existing folder":
        folder.mkdir()
    target = str(folder) + ("/" if how == "trailing slash" else "")
    text = _refused(_build("-m", str(base), "-o", target), "is a folder", "somedir/base.xlsx")
    assert ".tmp" not in text
    assert not folder.is_file()


@pytest.mark.parametrize("option, words", [("-m", "model path is empty"), ("-o", "output name is empty"),
                                           ("--samples", "samples path is empty"), ("--labels", "empty")])
def test_empty_arguments_are_errors(tmp_path, option, words):
    result = CliRunner().invoke(main, ["build", option, "", *([] if option == "-o" else ["-o", str(tmp_path / "o.xlsx")])])
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert words in result.output, result.output
    assert not (tmp_path / "o.xlsx").exists()


def test_non_finite_normalization_is_refused(base, tmp_path):
    for value in ("nan,1", "0.5,inf", "0,1/-inf"):
        _refused(_build("-m", str(base), "-o", str(tmp_path / "o.xlsx"), "--normalize", value), "finite")
    assert not (tmp_path / "o.xlsx").exists()


def test_non_finite_activation_constants_are_refused(base, tmp_path):
    def edit(config):
        find_layer(config, "dense")["config"]["activation"] = {"class_name": "elu", "config": {"alpha": math.nan}}
        return config

    _refused_build(edit_keras(base, tmp_path / "bad.keras", config=edit), tmp_path, "'dense' (Dense)",
                   "not finite numbers")
