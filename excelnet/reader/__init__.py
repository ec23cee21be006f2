"""Read a model file without TensorFlow: Keras (.keras, Keras 3 .h5, Keras 2 .h5) or ONNX.

A Keras file is opened with zipfile and h5py and its JSON config is parsed; an ONNX file is
parsed by the onnx package (reader/onnx.py). No code from the file runs, so a model from a
stranger is safe to convert. Both end in the same ModelSpec. What is read is bounded (reader/limits.py) and only
data stored inside a Keras file is read (reader/hdf5.py)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError, ModelFileError
from ..text import clean_strings, safe_name, safe_text
from .config import ConfigError, layer_name, model_chain
from .hdf5 import WeightReader, _h5py
from .limits import (MAX_ARCHIVE_MEMBERS, MAX_FILE_BYTES, MAX_JSON_BYTES, Refused, archive_member_count,
                     megabytes, read_member)
from .spec import LayerSpec, ModelSpec

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
ONNX_START = b"\x08"             # a serialized ModelProto starts with its ir_version field

__all__ = ["read_model", "LayerSpec", "ModelSpec"]


def read_model(path: str | Path) -> ModelSpec:
    """Read `path` into a ModelSpec, or raise ModelFileError with one clear sentence."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        if data.startswith(ZIP_SIGNATURE):
            spec = _read_keras_zip(path, data)
        elif data.startswith(HDF5_SIGNATURE):
            spec = _read_h5(path, data)
        elif _looks_like_onnx(path, data):
            from .onnx import read_onnx

            spec = read_onnx(path, data)
        else:
            raise ModelFileError(path, "it is not a Keras model file (neither a .keras zip archive nor an HDF5 .h5 "
                                       "file), nor an ONNX model")
    except (ConfigError, Refused) as error:
        raise ModelFileError(path, str(error)) from None
    except ExcelnetError:
        raise
    except (RuntimeError, OverflowError, ValueError, UnicodeError, KeyError):
        # h5py's answers to a damaged HDF5 structure (broken B-trees, addresses past the end, ...)
        if data.startswith(ZIP_SIGNATURE):
            raise ModelFileError(path, "its weights file (model.weights.h5) is a damaged HDF5 file (its internal "
                                       "structure is broken)") from None
        if data.startswith(HDF5_SIGNATURE):
            raise ModelFileError(path, "it is a damaged HDF5 file (its internal structure is broken)") from None
        raise ModelFileError(path, "it is damaged: its contents are not laid out as a model file's are") from None
    except RecursionError:
        raise ModelFileError(path, "its model config is nested too deeply to be a Keras model") from None
    except MemoryError:
        raise ModelFileError(path, "it is too large to read") from None
    except Exception:  # a stranger's file may break the parser in any way: never a traceback,
        # and never an internal error's text as the reason
        raise ModelFileError(path, "it is not laid out the way model files are, so excelnet cannot "
                                   "read it") from None
    digest = hashlib.sha256(data).hexdigest()
    return ModelSpec(spec.name, spec.input_shape, spec.layers, safe_text(str(path)), digest, spec.keras_version,
                     spec.extra)


def _looks_like_onnx(path: Path, data: bytes) -> bool:
    suffix = path.suffix.lower()
    return suffix == ".onnx" or (suffix not in (".keras", ".h5", ".hdf5") and data.startswith(ONNX_START))


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ModelFileError(path, "there is no such file")
    if path.is_dir():
        raise ModelFileError(path, "it is a folder, not a model file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelFileError(path, f"it is {megabytes(size)}, more than the {megabytes(MAX_FILE_BYTES)} "
                                       "of any model that fits in a workbook")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ModelFileError(path, f"it cannot be read ({error.strerror or 'input/output error'})") from None
    if not data:
        raise ModelFileError(path, "the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError(path, f"it is more than the {megabytes(MAX_FILE_BYTES)} of any model that fits "
                                   "in a workbook")
    return data


def _read_keras_zip(path: Path, data: bytes) -> ModelSpec:
    """Keras 3 native format: config.json + model.weights.h5 in a zip archive."""
    count = archive_member_count(data)
    if count is not None and count > MAX_ARCHIVE_MEMBERS:
        raise ModelFileError(path, f"it is a zip archive of {count:,} files; a .keras model has three")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if len(names) > MAX_ARCHIVE_MEMBERS:
            raise ModelFileError(path, f"it is a zip archive of {len(names):,} files; a .keras model has three")
        if "config.json" not in names:
            raise ModelFileError(path, "it is a zip archive without config.json, so not a .keras model")
        config = _parse_json(path, read_member(archive, "config.json", MAX_JSON_BYTES))
        metadata = _parse_json(path, read_member(archive, "metadata.json", MAX_JSON_BYTES)) \
            if "metadata.json" in names else {}
        weights_file = read_member(archive, "model.weights.h5") if "model.weights.h5" in names else None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile):
        raise ModelFileError(path, "it is a damaged or truncated .keras archive (its zip directory cannot be read)") from None
    except NotImplementedError:
        raise ModelFileError(path, "it is a .keras archive compressed in a way zipfile cannot read") from None
    except (OSError, ValueError) as error:  # zlib errors and CRC failures
        if isinstance(error, Refused):
            raise
        raise ModelFileError(path, "it is a damaged .keras archive (a member fails its checksum or "
                                   "cannot be inflated)") from None
    name, input_shape, chain, problems = model_chain(config)
    weights = _zip_weights(path, weights_file, config, chain)
    layers = tuple(_layer_spec(layer, found) for layer, found in zip(chain, weights))
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    version = version or "3"          # only Keras 3 writes .keras archives
    return ModelSpec(safe_name(name), input_shape, layers, keras_version=safe_name(version), extra=_extra(problems))


def _extra(problems: list[str]) -> dict:
    return {"problems": tuple(problems)} if problems else {}


def _zip_weights(path: Path, weights_file: bytes | None, config: dict, chain: list[dict]) -> list[tuple]:
    """Each chain layer's weights, found as Keras 3 finds them: by path, never by the name
    stored in the weights file. The path is layers/<snake_case class>, with _1, _2, ... for
    the second, third, ... layer of that class in the model's list of layers."""
    if weights_file is None:
        return [() for _ in chain]
    paths = keras_paths(config["config"]["layers"])
    reader = WeightReader()
    try:
        with _h5py().File(io.BytesIO(weights_file), "r") as h5:
            groups = h5.get("layers")
            if not isinstance(groups, _h5py().Group):
                return [() for _ in chain]
            return [_vars(reader, groups, paths.get(id(layer)), layer) for layer in chain]
    except OSError:
        raise ModelFileError(path, "its weights file (model.weights.h5) is damaged and cannot be read") from None


def keras_paths(layers: list[dict]) -> dict[int, str]:
    """id(layer config) -> the path Keras saves its weights under."""
    counts: dict[str, int] = {}
    paths = {}
    for layer in layers:
        base = _snake_case(str(layer.get("class_name", "")))
        n = counts.get(base, 0)
        counts[base] = n + 1
        paths[id(layer)] = base if n == 0 else f"{base}_{n}"
    return paths


def _vars(reader: WeightReader, groups, key: str | None, layer: dict) -> tuple[np.ndarray, ...]:
    """The arrays under layers/<key>/vars/0, 1, ... in that order (Keras numbers them)."""
    if key is None or key not in groups:
        return ()
    name = layer_name(layer)
    group = reader.child(groups, key, f"the weight group layers/{key} of layer '{name}'")
    if not isinstance(group, _h5py().Group) or "vars" not in group:
        return ()
    where = f"the weight group layers/{key}/vars of layer '{name}'"
    variables = reader.child(group, "vars", where)
    keys = list(variables) if isinstance(variables, _h5py().Group) else []
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise Refused(f"{where} is not numbered 0, 1, 2, ... as Keras numbers weights")
    arrays = []
    for i in range(len(keys)):
        where = f"the weight array layers/{key}/vars/{i} of layer '{name}'"
        arrays.append(reader.array(reader.child(variables, str(i), where), where))
    return tuple(arrays)


def _snake_case(name: str) -> str:
    """Keras' to_snake_case: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_h5(path: Path, data: bytes) -> ModelSpec:
    """Legacy HDF5: a model_config attribute and weights under model_weights/<layer>."""
    h5py = _h5py()
    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            raw = h5.attrs.get("model_config")
            if raw is None:
                raise ModelFileError(path, "it is an HDF5 file with no model in it (no model_config: a weights-only file cannot be converted)")
            config = _parse_json(path, raw)
            version = _text(h5.attrs.get("keras_version", ""))
            name, input_shape, chain, problems = model_chain(config)
            if not version:               # Keras 3 configs name each layer's module; Keras 2 ones do not
                version = "3" if any("module" in layer for layer in chain) else "2"
            reader = WeightReader()
            group = reader.child(h5, "model_weights", "model_weights") if "model_weights" in h5 else h5
            layers = tuple(_layer_spec(layer, _h5_layer_weights(reader, group, layer_name(layer))) for layer in chain)
    except OSError as error:
        raise ModelFileError(path, _hdf5_problem(error)) from None
    except KeyError:
        raise ModelFileError(path, "some of its weights are missing (a layer's weight_names point at "
                                   "nothing)") from None
    return ModelSpec(safe_name(name), input_shape, layers, keras_version=safe_name(version), extra=_extra(problems))


def _hdf5_problem(error: OSError) -> str:
    """h5py's messages are long; say plainly when the file is cut short."""
    match = re.search(r"eof = (\d+).*stored_eof = (\d+)", str(error))
    if match:
        have, want = int(match[1]), int(match[2])
        return f"it is a truncated HDF5 file (it ends after {have:,} of its {want:,} bytes)"
    return "it is a damaged or truncated HDF5 file"


def _h5_layer_weights(reader: WeightReader, group, name: str) -> tuple[np.ndarray, ...]:
    if name not in group:
        return ()
    layer = reader.child(group, name, f"the weight group of layer '{name}'")
    names = [_text(n) for n in np.atleast_1d(layer.attrs.get("weight_names", []))]
    arrays = []
    for n in names:
        where = f"the weight array {n} of layer '{name}'"
        arrays.append(reader.array(reader.child(layer, n, where), where))
    return tuple(arrays)


def _layer_spec(layer: dict, weights: tuple) -> LayerSpec:
    """A layer as the rest of excelnet sees it: every string from the file made safe to show."""
    config = layer.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"the config of layer '{layer_name(layer)}' is not a JSON object")
    raw = {key: clean_strings(layer.get(key)) for key in ("module", "registered_name") if key in layer}
    return LayerSpec(safe_name(layer.get("class_name")), safe_name(layer_name(layer)), clean_strings(config),
                     tuple(weights), raw)


def _parse_json(path: Path, raw) -> dict:
    if len(raw) > MAX_JSON_BYTES:
        raise ModelFileError(path, f"its model config is more than {megabytes(MAX_JSON_BYTES)}, far more than "
                                   "any Keras model's")
    try:
        return json.loads(_text(raw))
    except json.JSONDecodeError as error:
        raise ModelFileError(path, f"its model config is not valid JSON (line {error.lineno}, "
                                   f"column {error.colno})") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(path, "its model config is not valid JSON (it is not UTF-8 text)") from None


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
