"""Fuzzing: a few hundred mutated .keras and .h5 files, each either converted into a workbook
of finite numbers that computes what the NumPy reference computes, or refused with one clean
message and a non-zero exit. Never a traceback, a hang, more than 1 GB of memory, or a
pre-existing output file changed.

Seeded, so a failure reproduces; the variants are made in memory from four small models,
and all are run by one worker process (tests/fuzz_worker.py) that cannot import TensorFlow.
Run with -s to see the figures (variants, outcomes, time, peak memory)."""

from __future__ import annotations

import io
import json
import math
import random
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import random_init
from hostile_files import edit_h5_bytes, members, write_zip

SEED = 20261126
MEMORY_LIMIT = 2**30
SENTINEL = b"a workbook written before the fuzzing \x00\x01"
HOSTILE_VALUES = [None, -1, 0, 1.5, -2.5, 1e308, math.nan, math.inf, -math.inf, "x", "", "\x1b[31m", "\ud800",
                  [], {}, True, False, 10**9, 2**63, [1, 2, 3], [[1]], {"class_name": "__numpy__"}, "same",
                  "valid", "softmax", "gelu", -10**6]
HOSTILE_NAMES = ["=1+1", "\x00", "a\x1b[2Jb", "\ud800", "\u202eevil", "x" * 5000, "", "History", "'",
                 "a/b:c*?[x]", "名前", "@cmd|' /C calc'!A0"]
HOSTILE_DIMS = [0, -1, 1, 2, 3, 7, 1000, 10**6, 2**31, 1.5, "5", None, True]


# --- the models that are mutated ------------------------------------------------------------------

@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, bytes]:
    """Four small models (two Keras 3 formats, Keras 2, a Functional one with padding, PReLU and
    a global pool, so that other input sizes can still build): their files' bytes."""
    import keras
    import tf_keras

    folder = tmp_path_factory.mktemp("fuzz-bases")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    conv = keras.Sequential([keras.Input((5, 5, 1)), layers.Conv2D(2, 3, name="conv", **random_init(1)),
                             layers.ReLU(max_value=6.0, name="relu"), layers.MaxPooling2D(1, name="pool"),
                             layers.Flatten(name="flat"), layers.BatchNormalization(name="bn"),
                             layers.Dense(3, activation="softmax", name="dense", **random_init(3))], name="conv")
    conv.layers[4].set_weights([np.full(18, 1.1, "float32"), np.full(18, 0.1, "float32"),
                                np.full(18, 0.2, "float32"), np.full(18, 0.9, "float32")])
    conv.save(folder / "conv.keras")
    conv.save(folder / "conv.h5")
    inputs = keras.Input((6, 6, 1), name="picture")
    x = layers.ZeroPadding2D(((1, 0), (0, 1)), name="pad")(inputs)
    x = layers.Conv2D(2, 3, padding="same", name="c", **random_init(5))(x)
    x = layers.PReLU(alpha_initializer=keras.initializers.RandomNormal(0.2, 0.5, seed=6), shared_axes=[1, 2],
                     name="prelu")(x)
    x = layers.LeakyReLU(0.1, name="leaky")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    keras.Model(inputs, layers.Dense(3, name="d", **random_init(7))(x), name="gap").save(folder / "gap.keras")
    tf_keras.utils.set_random_seed(0)
    k2 = tf_keras.Sequential([tf_keras.layers.Dense(4, activation="elu", input_shape=(4,), name="hidden",
                                                    bias_initializer="random_normal"),
                              tf_keras.layers.Dense(3, activation="softmax", name="out")], name="k2")
    k2.save(folder / "k2.h5")
    return {name: (folder / name).read_bytes() for name in ("conv.keras", "conv.h5", "gap.keras", "k2.h5")}


# --- mutations: each takes a base file's bytes and a seeded Random, returns new bytes -------------

def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(1, len(data))]


def _zip_edit(data: bytes, member: str, edit) -> bytes:
    contents = members(io.BytesIO(data))
    contents[member] = edit(contents[member])
    buffer = io.BytesIO()
    write_zip(buffer, contents)
    return buffer.getvalue()


def _config_edit(data: bytes, edit_text) -> bytes:
    """Edit the model config's JSON text, wherever the format keeps it."""
    if data.startswith(b"PK"):
        return _zip_edit(data, "config.json", lambda raw: edit_text(raw.decode()).encode("utf-8", "surrogatepass"))

    def edit(h5):
        raw = h5.attrs["model_config"]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        h5.attrs["model_config"] = np.bytes_(edit_text(text).encode("utf-8", "surrogatepass"))
    return edit_h5_bytes(data, edit)


def _weights_edit(data: bytes, edit) -> bytes:
    """Edit the HDF5 file holding the weights (inside the archive for .keras)."""
    if data.startswith(b"PK"):
        return _zip_edit(data, "model.weights.h5", lambda raw: edit_h5_bytes(raw, edit))
    return edit_h5_bytes(data, edit)


def _break_json(data: bytes, rng: random.Random) -> bytes:
    def edit(text: str) -> str:
        i = rng.randrange(len(text))
        how = rng.choice(["cut", "insert", "duplicate", "truncate"])
        if how == "cut":
            return text[:i] + text[i + rng.randint(1, 20):]
        if how == "insert":
            return text[:i] + rng.choice(["{", "]", '"', ",", "NaN", "\\", "\x00", "\ud800", "[" * 5000]) + text[i:]
        if how == "duplicate":
            return text[:i] + text[i:i + 40] + text[i:]
        return text[:i]
    return _config_edit(data, edit)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    else:
        yield path


def _set(value, path, new):
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _json_values(data: bytes, rng: random.Random, choices=HOSTILE_VALUES, only=None) -> bytes:
    def edit(text: str) -> str:
        config = json.loads(text)
        paths = [p for p in _leaves(config) if p and (only is None or p[-1] in only)]
        for path in rng.sample(paths, min(len(paths), rng.randint(1, 3))):
            _set(config, path, rng.choice(choices))
        return json.dumps(config)
    return _config_edit(data, edit)


def _names(data: bytes, rng: random.Random) -> bytes:
    return _json_values(data, rng, HOSTILE_NAMES, only={"name"})


def _shapes(data: bytes, rng: random.Random) -> bytes:
    keys = {"batch_shape", "batch_input_shape", "kernel_size", "pool_size", "strides", "units", "filters",
            "target_shape"}

    def edit(text: str) -> str:
        config = json.loads(text)
        for path in [p for p in _leaves(config) if any(k in keys for k in p if isinstance(k, str))]:
            if rng.random() < 0.3 and path[-1] != 0:
                _set(config, path, rng.choice(HOSTILE_DIMS))
        return json.dumps(config)
    return _config_edit(data, edit)


def _datasets(h5) -> list[str]:
    found = []
    h5.visititems(lambda name, obj: found.append(name) if hasattr(obj, "dtype") else None)
    return found


def _replace(h5, path: str, **create) -> None:
    parent, name = path.rsplit("/", 1) if "/" in path else ("/", path)
    del h5[path]
    h5[parent].create_dataset(name, **create)


def _wrong_weights(data: bytes, rng: random.Random) -> bytes:
    def edit(h5):
        path = rng.choice(_datasets(h5))
        shape = h5[path].shape
        how = rng.choice(["rank", "size", "dtype", "empty", "scalar", "drop"])
        if how == "drop":
            del h5[path]
        elif how == "rank":
            _replace(h5, path, data=np.ones(tuple(shape) + (1,) * rng.randint(1, 2), "f4"))
        elif how == "size":
            _replace(h5, path, data=np.ones(tuple(d + rng.randint(1, 20) for d in shape) or (3,), "f4"))
        elif how == "empty":
            _replace(h5, path, data=np.ones((0,) + tuple(shape)[1:], "f4"))
        elif how == "scalar":
            _replace(h5, path, data=np.float32(1))
        else:
            dtype = rng.choice(["i4", "u1", "c8", "f2", "f8", "?", "S4", [("a", "f4"), ("b", "i2")]])
            _replace(h5, path, data=np.ones(shape, dtype) if not isinstance(dtype, str) or dtype != "S4"
                     else np.full(shape, b"root"))
    return _weights_edit(data, edit)


def _non_finite(data: bytes, rng: random.Random) -> bytes:
    def edit(h5):
        path = rng.choice(_datasets(h5))
        values = np.array(h5[path])
        values.flat[rng.randrange(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
        _replace(h5, path, data=values)
    return _weights_edit(data, edit)


def _outside(data: bytes, rng: random.Random) -> bytes:
    import h5py

    def edit(h5):
        path = rng.choice(_datasets(h5))
        parent, name = path.rsplit("/", 1)
        shape, how = h5[path].shape, rng.choice(["external", "virtual", "link"])
        del h5[path]
        if how == "external":
            h5[parent].create_dataset(name, shape=shape, dtype="u1", external=[("/etc/passwd", 0, int(np.prod(shape)))])
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=shape, dtype="f4")
            layout[...] = h5py.VirtualSource("/etc/passwd", "data", shape=shape)
            h5[parent].create_virtual_dataset(name, layout, fillvalue=0)
        else:
            h5[parent][name] = h5py.ExternalLink("/etc/passwd", "/data")
    return _weights_edit(data, edit)


def _cycle(data: bytes, rng: random.Random) -> bytes:
    """The Functional model's input is made to take its input from a later layer."""
    def edit(text: str) -> str:
        config = json.loads(text)
        layers = config["config"]["layers"]
        source, target = rng.choice(layers[1:]), rng.choice(layers[:-1])
        target["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, 6, 6, 1], "dtype": "float32", "keras_history": [source["name"], 0, 0]}}], "kwargs": {}}]
        return json.dumps(config)
    return _config_edit(data, edit)


def _zip_bomb(data: bytes, rng: random.Random) -> bytes:
    """One member inflates to 70-100 MB, past every cap, written in chunks (never held whole here)."""
    contents = members(io.BytesIO(data))
    member = rng.choice(["config.json", "metadata.json", "model.weights.h5"])
    size = rng.randint(70, 100) * 2**20
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, raw in contents.items():
            if name != member:
                archive.writestr(name, raw)
        with archive.open(member, "w", force_zip64=True) as out:
            if member == "config.json":
                out.write(contents[member])          # valid JSON, then a sea of spaces
            chunk = (b" " if member == "config.json" else b"\0") * 2**20
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return buffer.getvalue()


MUTATIONS = {   # name: (function, how many variants, which bases it applies to)
    "byte flip": (_flip_bytes, 56, None),
    "byte flip in the weights": (lambda d, r: _zip_edit(d, "model.weights.h5", lambda raw: _flip_bytes(raw, r)),
                                 16, ".keras"),
    "truncation": (_truncate, 30, None),
    "broken JSON": (_break_json, 30, None),
    "hostile config values": (_json_values, 50, None),
    "hostile names": (_names, 20, None),
    "hostile shapes": (_shapes, 30, None),
    "wrong weight shapes and dtypes": (_wrong_weights, 40, None),
    "non-finite weights": (_non_finite, 15, None),
    "data outside the file": (_outside, 12, None),
    "cycle": (_cycle, 6, "gap.keras"),
    "zip bomb": (_zip_bomb, 5, ".keras"),
}


def make_variants(bases: dict[str, bytes], folder: Path) -> list[dict]:
    rng = random.Random(SEED)
    variants = []
    for kind, (mutate, count, applies) in MUTATIONS.items():
        names = [n for n in bases if applies is None or n.endswith(applies)]
        for k in range(count):
            base = names[k % len(names)]
            data = mutate(bases[base], rng)
            index = len(variants)
            model, output = folder / f"v{index}{Path(base).suffix}", folder / f"v{index}.xlsx"
            model.write_bytes(data)
            output.write_bytes(SENTINEL)
            variants.append({"kind": kind, "base": base, "model": str(model), "output": str(output)})
    return variants


# --- the test -------------------------------------------------------------------------------------

def _problems(record: dict) -> list[str]:
    what = f"{record['kind']} of {record['base']} ({Path(record['model']).name})"
    if "escaped" in record:
        return [f"{what}: an exception escaped:\n{record['escaped']}"]
    output, found = record["message"], []
    if record["peak"] is not None and record["peak"] > MEMORY_LIMIT:
        found.append(f"{what}: peak memory {record['peak'] / 2**20:.0f} MB")
    if "Traceback" in output or any(ch in output for ch in "\x00\x1b\ud800\u202e"):
        found.append(f"{what}: a traceback or raw control characters in {output!r}")
    if record["exit_code"] == 0:
        if not record["finite"]:
            found.append(f"{what}: the workbook holds non-finite numbers or errors")
        if record.get("equal") is False or record.get("reference_finite") is False:
            found.append(f"{what}: the workbook differs from the NumPy reference (or it is not finite)")
        return found
    if record["exit_code"] != 1 or not output.startswith("Error: "):
        found.append(f"{what}: exit {record['exit_code']} with {output!r}")
    if Path(record["output"]).read_bytes() != SENTINEL:
        found.append(f"{what}: the pre-existing output was changed")
    leftovers = [p.name for p in Path(record["output"]).parent.glob(f".{Path(record['output']).name}.*")]
    if leftovers:
        found.append(f"{what}: left {leftovers}")
    return found


def test_fuzzed_model_files_build_correctly_or_fail_cleanly(bases, tmp_path):
    started = time.perf_counter()
    variants = make_variants(bases, tmp_path)
    made = time.perf_counter() - started
    manifest, results = tmp_path / "manifest.json", tmp_path / "results.json"
    manifest.write_text(json.dumps(variants))
    worker = Path(__file__).with_name("fuzz_worker.py")
    run = subprocess.run([sys.executable, str(worker), str(manifest), str(results)], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(results.read_text())
    records = report["records"]
    assert len(records) == len(variants) >= 300
    assert not report["tensorflow"], report["tensorflow"]
    built = [r for r in records if r["exit_code"] == 0]
    peaks = [r["peak"] for r in records if r["peak"] is not None]
    print(f"\nfuzz: {len(records)} variants made in {made:.1f} s and run in {time.perf_counter() - started - made:.1f} s; "
          f"{len(built)} built ({sum('equal' in r for r in built)} distinct networks checked with formulas), "
          f"{len(records) - len(built)} refused; peak memory of one build "
          f"{max(peaks, default=0) / 2**20:.0f} MB; slowest {max(r['seconds'] for r in records):.2f} s")
    print("outcomes by mutation:", dict(Counter((r["kind"], r["exit_code"]) for r in records)))
    problems = [p for record in records for p in _problems(record)]
    assert not [r for r in built if r.get("unchecked")], "raise FORMULAS_CHECKS: some builds went unchecked"
    assert not problems, "\n\n".join(problems[:10]) + f"\n\n({len(problems)} problems)"
    assert sum(r["exit_code"] == 1 for r in records) > 100 and built, "the fuzzing no longer reaches both outcomes"
