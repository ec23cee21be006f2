"""The PyTorch route: train (or just initialise) a LeNet-style MNIST CNN, export it to ONNX with
both of PyTorch's exporters, and turn it into a workbook.

Needs torch (and onnxscript for the dynamo exporter); excelnet itself does not:

    pip install torch onnxscript
    python examples/pytorch_to_workbook.py --data /path/to/mnist --epochs 1
    excelnet build -m lenet.onnx --normalize 0.1307,0.3081 -o lenet.xlsx
    excelnet verify lenet.xlsx

--data is a folder with MNIST's four IDX files (*-ubyte.gz); without it the network keeps its
random initial weights (good enough to see the workbook equal PyTorch, useless at digits).
The network ends in log_softmax, as PyTorch's own MNIST example does: the workbook shows its
exp, the probabilities. It expects normalised pixels, (x − 0.1307) / 0.3081, which
`--normalize 0.1307,0.3081` adds as the workbook's first step, so the Canvas takes 0–1 ink.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.1307, 0.3081


class LeNet(nn.Module):
    """LeNet-5 (conv 5×5 → pool → conv 5×5 → pool → 3 dense layers); `width` scales the channels
    and units down for small test fixtures."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, f1, f2 = (max(2, int(round(n * width))) for n in (6, 16, 120, 84))
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 5 * 5, f1)
        self.fc2 = nn.Linear(f1, f2)
        self.fc3 = nn.Linear(f2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)                       # exported as Shape → Gather → ... → Reshape
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


def load_idx(folder: Path, name: str) -> np.ndarray:
    path = next(p for p in (folder / f"{name}.gz", folder / name) if p.exists())
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def normalised(images: np.ndarray) -> torch.Tensor:
    return (torch.tensor(images, dtype=torch.float32)[:, None] / 255.0 - MEAN) / STD


def train(model: nn.Module, folder: Path, epochs: int, limit: int) -> None:
    x = normalised(load_idx(folder, "train-images-idx3-ubyte")[:limit])
    y = torch.tensor(load_idx(folder, "train-labels-idx1-ubyte")[:limit], dtype=torch.long)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            F.nll_loss(model(x[batch]), y[batch]).backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: loss {F.nll_loss(model(x[:2000]), y[:2000]).item():.3f}")
    test_x = normalised(load_idx(folder, "t10k-images-idx3-ubyte"))
    test_y = torch.tensor(load_idx(folder, "t10k-labels-idx1-ubyte"), dtype=torch.long)
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
    print(f"test accuracy: {100 * accuracy:.2f}%")


def export(model: nn.Module, path: Path, dynamo: bool) -> None:
    """TorchScript-based exporter (opset 13, a dynamic batch axis) or the dynamo exporter (opset 18)."""
    model.eval()
    example = torch.zeros(1, 1, 28, 28)
    if dynamo:
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=18)
        program.save(str(path))
    else:
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=13,
                          input_names=["image"], output_names=["log_probabilities"],
                          dynamic_axes={"image": {0: "batch"}, "log_probabilities": {0: "batch"}})
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {'dynamo' if dynamo else 'TorchScript'} exporter)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="folder with the four MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=60000, help="train on the first N images")
    parser.add_argument("--width", type=float, default=1.0, help="scale channels and units (1 = LeNet-5)")
    parser.add_argument("--name", default="lenet", help="file names: NAME.onnx and NAME_dynamo.onnx")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-build", action="store_true", help="only export; do not run excelnet build")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = LeNet(args.width)
    if args.data:
        train(model, args.data, args.epochs, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    scripted, dynamo = args.out / f"{args.name}.onnx", args.out / f"{args.name}_dynamo.onnx"
    export(model, scripted, dynamo=False)
    export(model, dynamo, dynamo=True)
    command = ["excelnet", "build", "-m", str(scripted), "--normalize", f"{MEAN},{STD}",
               "-o", str(scripted.with_suffix(".xlsx"))]
    if args.no_build or shutil.which("excelnet") is None:
        print("Next:", " ".join(command))
        return
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
