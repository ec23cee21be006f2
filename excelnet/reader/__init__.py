"""Read a model file without TensorFlow: Keras (.keras, Keras 3 .h5, Keras 2 .h5) or ONNX.

A Keras file is opened with zipfile and h5py and its JSON config is parsed; an ONNX file is
parsed by the onnx package (reader/onnx.py). No code from the file runs, so a model from a
stranger is safe to convert. Both end in the same ModelSpec."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ExcelnetError, ModelFileError
from .config import ConfigError, layer_name, model_chain
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
    except ConfigError as error:
        raise ModelFileError(path, str(error)) from None
    except ExcelnetError:
        raise
    except Exception as error:  # a stranger's file may break the parser in any way: never a traceback
        raise ModelFileError(path, f"it is not a model excelnet can read ({type(error).__name__}: {error})") from None
    digest = hashlib.sha256(data).hexdigest()
    return ModelSpec(spec.name, spec.input_shape, spec.layers, str(path), digest, spec.keras_version, spec.extra)


def _looks_like_onnx(path: Path, data: bytes) -> bool:
    suffix = path.suffix.lower()
    return suffix == ".onnx" or (suffix not in (".keras", ".h5", ".hdf5") and data.startswith(ONNX_START))


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ModelFileError(path, "there is no such file")
    if path.is_dir():
        raise ModelFileError(path, "it is a folder, not a model file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileError(path, f"it cannot be read ({error.strerror or error})") from None
    if not data:
        raise ModelFileError(path, "the file is empty")
    return data


def _read_keras_zip(path: Path, data: bytes) -> ModelSpec:
    """Keras 3 native format: config.json + model.weights.h5 in a zip archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if "config.json" not in names:
            raise ModelFileError(path, "it is a zip archive without config.json, so not a .keras model")
        config = _parse_json(path, archive.read("config.json"))
        metadata = _parse_json(path, archive.read("metadata.json")) if "metadata.json" in names else {}
        weights_file = archive.read("model.weights.h5") if "model.weights.h5" in names else None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile):
        raise ModelFileError(path, "it is a damaged or truncated .keras archive (its zip directory cannot be read)") from None
    except (OSError, ValueError) as error:  # zlib errors and CRC failures
        raise ModelFileError(path, f"it is a damaged .keras archive ({error})") from None
    name, input_shape, chain, problems = model_chain(config)
    weights = _zip_weights(path, weights_file, chain)
    layers = tuple(_layer_spec(layer, weights.get(layer_name(layer), ())) for layer in chain)
    version = str(metadata.get("keras_version", "")) if isinstance(metadata, dict) else ""
    version = version or "3"          # only Keras 3 writes .keras archives
    return ModelSpec(name, input_shape, layers, keras_version=version, extra=_extra(problems))


def _extra(problems: list[str]) -> dict:
    return {"problems": tuple(problems)} if problems else {}


def _zip_weights(path: Path, weights_file: bytes | None, chain: list[dict]) -> dict[str, tuple]:
    """Weights by layer name. Keras stores them under layers/<snake_case class>[_n]/vars/<i>."""
    if weights_file is None:
        return {}
    h5py = _h5py()
    try:
        with h5py.File(io.BytesIO(weights_file), "r") as h5:
            groups = h5.get("layers")
            if groups is None:
                return {}
            by_path = {key: _vars(groups[key]) for key in groups}
            named = {str(groups[key]["vars"].attrs["name"]): by_path[key]
                     for key in groups if "vars" in groups[key] and "name" in groups[key]["vars"].attrs}
    except OSError as error:
        raise ModelFileError(path, f"its weights cannot be read ({error})") from None
    if named:
        return named
    return _match_by_class_order(chain, by_path)


def _vars(group) -> tuple[np.ndarray, ...]:
    if "vars" not in group:
        return ()
    variables = group["vars"]
    return tuple(np.asarray(variables[key]) for key in sorted(variables, key=int))


def _match_by_class_order(chain: list[dict], by_path: dict[str, tuple]) -> dict[str, tuple]:
    """Older Keras 3 files name weight groups after the class: conv2d, conv2d_1, ..."""
    counts: dict[str, int] = {}
    result = {}
    for layer in chain:
        base = _snake_case(layer.get("class_name", ""))
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        result[layer_name(layer)] = by_path.get(key, ())
    return result


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
            group = h5["model_weights"] if "model_weights" in h5 else h5
            layers = tuple(_layer_spec(layer, _h5_layer_weights(group, layer_name(layer))) for layer in chain)
    except OSError as error:
        raise ModelFileError(path, _hdf5_problem(error)) from None
    except KeyError as error:
        raise ModelFileError(path, f"some of its weights are missing ({error})") from None
    return ModelSpec(name, input_shape, layers, keras_version=version, extra=_extra(problems))


def _hdf5_problem(error: OSError) -> str:
    """h5py's messages are long; say plainly when the file is cut short."""
    match = re.search(r"eof = (\d+).*stored_eof = (\d+)", str(error))
    if match:
        have, want = int(match[1]), int(match[2])
        return f"it is a truncated HDF5 file (it ends after {have:,} of its {want:,} bytes)"
    return f"it is a damaged or truncated HDF5 file ({error})"


def _h5_layer_weights(group, name: str) -> tuple[np.ndarray, ...]:
    if name not in group:
        return ()
    layer = group[name]
    names = [_text(n) for n in layer.attrs.get("weight_names", [])]
    return tuple(np.asarray(layer[n]) for n in names)


def _layer_spec(layer: dict, weights: tuple) -> LayerSpec:
    config = layer.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"the config of layer '{layer_name(layer)}' is not a JSON object")
    raw = {key: layer.get(key) for key in ("module", "registered_name") if key in layer}
    return LayerSpec(str(layer.get("class_name")), layer_name(layer), config, tuple(weights), raw)


def _parse_json(path: Path, raw) -> dict:
    try:
        return json.loads(_text(raw))
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelFileError(path, f"its model config is not valid JSON ({error})") from None


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _h5py():
    import h5py  # imported late: `excelnet --help` should not pay for it

    return h5py
