"""Write the graph-only exports (.pt2) of the DAWNBench ImageNet level's ResNet v1 networks.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/dawnbench-imagenet-93/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

torchvision's ResNets are "v1.5": the first bottleneck of stages 2-4 strides its 3x3 convolution. Some
DAWNBench entries ran the original ResNet v1 instead, which strides the first 1x1 convolution, so that
block's 1x1 and 3x3 convolutions already run at the lower resolution (about 6% fewer multiply-adds for
ResNet-50 at 224 px). Those entries are counted with these exports, built from the code they ran:
TensorFlow's tf_cnn_benchmarks `bottleneck_block_v1` (Stanford DAWN's ResNet-152) and MXNet's
example/image-classification/symbols/resnet-v1.py (Huawei Cloud's ResNet-50). Both put the stride on
the first 1x1 convolution and project the shortcut with a strided 1x1 convolution where the width
changes; neither has a bias on its convolutions.

Batch norms are left out (nn.Identity in their place): they cost no multiply-adds, and with them the
ResNet-152 graph would pass the 1 MiB limit on files under entries/. The input side is a dynamic
dimension, so one archive counts every phase of a progressive-resizing schedule. Weights are not saved:
the model is built on the meta device. Run it as a script (the graph records `__main__` as the classes'
module); stack traces are dropped so the bytes do not depend on where the repository lives.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aieff.verify.pt2 import export_script

HERE = Path(__file__).resolve().parent  # file names: letters, digits, _ (the archive's folder is named after it)

Norm = nn.Identity


class BottleneckV1(nn.Module):
    """ResNet v1 bottleneck: 1x1 (carrying the stride), 3x3, 1x1 x4; post-activation."""

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, planes, 1, stride, bias=False), Norm(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False), Norm(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, 4 * planes, 1, bias=False), Norm(4 * planes)
        project = stride != 1 or c_in != 4 * planes
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, 4 * planes, 1, stride, bias=False), Norm(4 * planes))
            if project
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return F.relu(self.bn3(self.conv3(h)) + self.shortcut(x))


class ResNetV1(nn.Module):
    """7x7/2 stem, 3x3/2 max pool, four stages of bottlenecks (64-512 planes, stride 2 at the start of
    stages 2-4), global average pool, 1000-way linear layer."""

    def __init__(self, blocks: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), Norm(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, c_in = [], 64
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            for i in range(count):
                layers.append(BottleneckV1(c_in, planes, 2 if stage and i == 0 else 1))
                c_in = 4 * planes
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stages(self.stem(x)).mean((2, 3)))


MODELS = {
    "resnet50_v1.pt2": lambda: ResNetV1((3, 4, 6, 3)),
    "resnet152_v1.pt2": lambda: ResNetV1((3, 8, 36, 3)),
}


def export(name: str, out: Path = HERE) -> Path:
    """Build one network on the meta device and save its graph, with a dynamic input side, into `out`."""
    with torch.device("meta"):
        model = MODELS[name]().eval()
    side = torch.export.Dim("side", min=64, max=512)
    example = torch.empty(1, 3, 224, 224, device="meta")
    program = torch.export.export(model, (example,), dynamic_shapes=({2: side, 3: side},))
    for node in program.graph.nodes:  # as aieff.verify.pt2.save_graph_only does
        node.meta.pop("stack_trace", None)
    path = out / name
    torch.export.save(program, path)
    return path


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
