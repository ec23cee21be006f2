"""Parse a Keras model config (JSON, Keras 2 or 3) into an ordered chain of layers.

Only JSON is read: nothing in a model file is ever executed."""

from __future__ import annotations

from typing import Any

from .limits import MAX_LAYERS

CONTAINERS = {"Sequential", "Functional", "Model"}


class ConfigError(ValueError):
    """The config is not a model this converter can read."""


def model_chain(config: dict) -> tuple[str, tuple[int, ...], list[dict], list[str]]:
    """(model name, input shape without batch axis, layer configs in data-flow order, problems).

    `problems` lists what makes a Functional model more than one chain (branches, merges,
    several inputs or outputs); the layers are then in file order, so every one of them can
    still be checked and reported at once."""
    if not isinstance(config, dict) or config.get("class_name") not in CONTAINERS:
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ConfigError(f"its top-level object is {kind!r}, not a Sequential or Functional model")
    body = config.get("config")
    if not isinstance(body, dict):
        raise ConfigError("its model config has no body")
    layers = body.get("layers")
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise ConfigError("its model config has no list of layers")
    count = sum(layer.get("class_name") != "InputLayer" for layer in layers)
    if count > MAX_LAYERS:
        raise ConfigError(f"it has {count:,} layers, more than the {MAX_LAYERS:,} excelnet builds "
                          "(a CNN that fits in a workbook has tens)")
    name = str(body.get("name") or "model")
    problems: list[str] = []
    if config["class_name"] == "Sequential":
        chain = layers
    else:
        chain, problems = _functional_chain(body)
    if problems:
        shape = _declared_shape(layers, body)
        return name, shape, [l for l in chain if l.get("class_name") != "InputLayer"], problems
    input_shape, chain = _split_input(chain, body)
    if not chain:
        raise ConfigError("the model has no layers")
    return name, input_shape, chain, problems


def _declared_shape(layers: list[dict], body: dict) -> tuple[int, ...]:
    try:
        return _split_input(layers, body)[0]
    except ConfigError:
        return ()


def _split_input(layers: list[dict], body: dict) -> tuple[tuple[int, ...], list[dict]]:
    """Take the InputLayer off the front, returning the input shape it declares."""
    if layers and layers[0].get("class_name") == "InputLayer":
        shape = _batch_shape(layers[0].get("config") or {})
        if not shape:
            raise ConfigError("its input layer does not declare a shape")
        return shape, layers[1:]
    if layers:
        shape = _batch_shape(layers[0].get("config") or {})
        if shape:
            return shape, layers
    shape = body.get("build_input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) > 1:
        return _dims(shape[1:]), layers
    raise ConfigError("the model does not declare its input shape (build it or add an Input)")


def _batch_shape(layer_config: dict) -> tuple[int, ...]:
    if not isinstance(layer_config, dict):
        return ()
    for key in ("batch_shape", "batch_input_shape"):
        shape = layer_config.get(key)
        if shape:
            if not isinstance(shape, (list, tuple)):
                raise ConfigError(f"its input shape {shape!r} is not a list of sizes")
            return _dims(shape[1:])
    return ()


def _dims(shape) -> tuple[int, ...]:
    """Sizes of the input axes: whole numbers of at least 1 (JSON may say anything)."""
    if any(d is None for d in shape):
        raise ConfigError(f"the input shape {tuple(shape)} has unknown dimensions")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise ConfigError(f"the input shape {tuple(shape)!r} is not made of whole numbers of at least 1")
    return tuple(shape)


def _functional_chain(body: dict) -> tuple[list[dict], list[str]]:
    """Order a Functional model's layers from input to output; describe any branch."""
    layers = {layer_name(l): l for l in body["layers"]}
    inputs = _endpoint_names(body.get("input_layers"))
    outputs = _endpoint_names(body.get("output_layers"))
    problems = []
    if len(inputs) != 1:
        problems.append(f"the model has {len(inputs)} inputs ({_names(inputs)}); only one input is supported")
    if len(outputs) != 1:
        problems.append(f"the model has {len(outputs)} outputs ({_names(outputs)}); only one output is supported")
    consumers: dict[str, list[str]] = {name: [] for name in layers}
    for name, layer in layers.items():
        sources = inbound_layer_names(layer)
        if len(sources) > 1:
            problems.append(f"layer '{name}' ({layer.get('class_name')}) merges {len(sources)} branches "
                            f"({_names(sources)}); only a single chain of layers is supported")
        for source in sources:
            consumers.setdefault(source, []).append(name)
    for name, users in consumers.items():
        if len(users) > 1 and name in layers:
            problems.append(f"layer '{name}' ({layers[name].get('class_name')}) feeds {len(users)} layers "
                            f"({_names(users)}); only a single chain of layers is supported")
    if problems:
        return list(body["layers"]), problems
    if inputs[0] not in layers:
        raise ConfigError(f"its input layer '{inputs[0]}' is not among its layers")
    chain, current, seen = [layers[inputs[0]]], inputs[0], {inputs[0]}
    while consumers.get(current):
        current = consumers[current][0]
        if current in seen or current not in layers:
            loop = " → ".join(f"'{layer_name(l)}'" for l in chain) + f" → '{current}'"
            why = "form a cycle" if current in seen else "refer to a layer that is not in the model"
            raise ConfigError(f"its layers {why} ({loop}), so they cannot be a model")
        seen.add(current)
        chain.append(layers[current])
    if current != outputs[0]:
        raise ConfigError(f"its chain of layers from '{inputs[0]}' ends at '{current}', not at the output '{outputs[0]}'")
    return chain, []


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def layer_name(layer: dict) -> str:
    config = layer.get("config")
    return str(layer.get("name") or (config.get("name") if isinstance(config, dict) else None) or "unnamed")


def _endpoint_names(endpoints: Any) -> list[str]:
    """input_layers/output_layers: [name, 0, 0] or [[name, 0, 0], ...]."""
    if not endpoints or not isinstance(endpoints, list):
        return []
    if isinstance(endpoints[0], str):
        return [endpoints[0]]
    return [str(e[0]) for e in endpoints if isinstance(e, list) and e]


def inbound_layer_names(layer: dict) -> list[str]:
    """Names of the layers feeding this one, in Keras 2 or Keras 3 notation."""
    names: list[str] = []
    _collect_history(layer.get("inbound_nodes") or [], names)
    return names


def _collect_history(node: Any, names: list[str]) -> None:
    if isinstance(node, dict):
        config = node.get("config")
        history = config.get("keras_history") if isinstance(config, dict) and \
            node.get("class_name") == "__keras_tensor__" else None
        if isinstance(history, list) and history and isinstance(history[0], str):
            names.append(history[0])
            return
        for value in node.values():
            _collect_history(value, names)
    elif isinstance(node, list):
        # Keras 2: [layer_name, node_index, tensor_index, kwargs]
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
            names.append(node[0])
            return
        for item in node:
            _collect_history(item, names)
