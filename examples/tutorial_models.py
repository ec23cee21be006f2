"""Reproducible copies of the four networks people meet first in tutorials, with random weights
(fixed seeds), to build, verify and time as a new user would (benchmarks/real_models.py).

    keras_mnist_convnet.keras   keras.io "Simple MNIST convnet": Conv2D 32 3x3 relu → MaxPool 2 →
                                Conv2D 64 3x3 relu → MaxPool 2 → Flatten → Dropout 0.5 → Dense 10 softmax
    tf_cifar10_cnn.keras        TensorFlow's CIFAR-10 tutorial: Conv2D 32 3x3 relu (32x32x3) → MaxPool →
                                Conv2D 64 → MaxPool → Conv2D 64 → Flatten → Dense 64 relu → Dense 10 (logits)
    lenet5.keras                LeNet-5: Conv2D 6 5x5 (same) → AvgPool → Conv2D 16 5x5 → AvgPool → Dense
                                120 → 84 → 10 softmax (tanh, as LeCun's)
    pytorch_mnist_net.onnx      pytorch/examples' MNIST `Net`: conv1 Conv2d(1,32,3,1) → relu → conv2
                                Conv2d(32,64,3,1) → relu → max_pool2d 2 → dropout → flatten → fc1 Linear(9216,128)
                                → relu → dropout → fc2 Linear(128,10) → log_softmax; exported with the
                                TorchScript exporter (dynamo=False) ...
    pytorch_mnist_net_dynamo.onnx (+ .onnx.data)   ... and with torch's default dynamo exporter, its
                                weights in a separate .onnx.data file

Each framework's part runs where it is installed: the Keras models need keras (TensorFlow), the
PyTorch ones torch and onnxscript (a separate environment is fine; excelnet never needs torch):

    .venv/bin/python examples/tutorial_models.py --out models/
    /path/to/torchenv/bin/python examples/tutorial_models.py --out models/

`--fixtures` writes the reduced-width PyTorch Net that the tests use (tests/fixtures/net_small*.onnx):
the same layers and the same exporters, 4 and 8 channels and 16 units instead of 32, 64 and 128.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


# --- Keras ----------------------------------------------------------------------------------------

def keras_models() -> dict:
    import keras
    from keras import layers

    def mnist_convnet():
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")], name="mnist_convnet")

    def cifar10_cnn():
        return keras.Sequential([
            keras.Input((32, 32, 3)),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10)], name="cifar10_cnn")

    def lenet5():
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="tanh"), layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2),
            layers.Flatten(), layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"),
            layers.Dense(10, activation="softmax")], name="lenet5")

    return {"keras_mnist_convnet": mnist_convnet, "tf_cifar10_cnn": cifar10_cnn, "lenet5": lenet5}


def write_keras(out: Path, seed: int) -> list[Path]:
    """Each model with Keras' own random initialisation, plus random non-zero biases (zero biases
    hide bias bugs)."""
    import keras
    import numpy as np

    written = []
    for name, make in keras_models().items():
        keras.utils.set_random_seed(seed)
        model = make()
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            weights = layer.get_weights()
            if len(weights) == 2:
                layer.set_weights([weights[0], rng.normal(0, 0.05, weights[1].shape).astype("float32")])
        path = out / f"{name}.keras"
        model.save(path)
        written.append(path)
    return written


# --- PyTorch ----------------------------------------------------------------------------------------

def torch_net(width: float = 1.0):
    """pytorch/examples' MNIST Net, layer for layer (its names conv1, conv2, fc1, fc2 are what the
    workbook's sheets must be called); `width` scales channels and units for small fixtures."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    c1, c2, f1 = (max(2, int(round(n * width))) for n in (32, 64, 128))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, c1, 3, 1)
            self.conv2 = nn.Conv2d(c1, c2, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(c2 * 12 * 12, f1)
            self.fc2 = nn.Linear(f1, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def export_torch(model, path: Path, dynamo: bool) -> list[Path]:
    """The TorchScript exporter (opset 13, a dynamic batch axis) or the dynamo exporter (torch's
    default, opset 18), which keeps the weights in `path`.data beside the graph."""
    import torch

    model.eval()
    example = torch.zeros(1, 1, 28, 28)
    if dynamo:
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=18)
        program.save(str(path), external_data=True)
        return [path, path.with_name(path.name + ".data")]
    torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return [path]


def write_torch(out: Path, name: str, width: float, seed: int) -> list[Path]:
    import torch

    torch.manual_seed(seed)
    model = torch_net(width)
    with torch.no_grad():                  # PyTorch's default biases are small; make them matter
        for module in (model.conv1, model.conv2, model.fc1, model.fc2):
            module.bias.uniform_(-0.1, 0.1)
    return export_torch(model, out / f"{name}.onnx", dynamo=False) + \
        export_torch(model, out / f"{name}_dynamo.onnx", dynamo=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("tutorial_models"), help="folder to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fixtures", action="store_true",
                        help=f"only the reduced-width PyTorch Net, into {FIXTURES} (needs torch)")
    args = parser.parse_args()
    if args.fixtures:
        written = write_torch(FIXTURES, "net_small", width=1 / 8, seed=args.seed)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        written = []
        if importlib.util.find_spec("keras"):
            written += write_keras(args.out, args.seed)
        if importlib.util.find_spec("torch"):
            written += write_torch(args.out, "pytorch_mnist_net", width=1.0, seed=args.seed)
        if not written:
            raise SystemExit("neither keras nor torch is installed: nothing to write")
    for path in written:
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
