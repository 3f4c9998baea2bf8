"""Write the graph-only exports (.pt2) of the CIFAR-10 94% level's architectures.

Run from the repository root with the `compute` extra installed:

    .venv/bin/python entries/cifar10-94/exports/make_exports.py [--out DIR] [NAME.pt2 ...]

Each network is written here from its entry's published code (the commit each entry's note names):
layer by layer, with its convolutions, poolings and linear layers at the training resolution, so
aieff counts the multiply-adds the training run computed per image. Batch norms, activations and
scaling constants are kept where they sit (they cost no multiply-adds), except the ResNet-164s'
batch norms (see Norm below). Weights are not saved: the
model is built on the meta device. Run it as a script (the graph records `__main__` as the classes'
module); stack traces are dropped so the bytes do not depend on where the repository lives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from aieff.verify.pt2 import export_script, save_graph_only

HERE = Path(__file__).resolve().parent  # file names: letters, digits, _ (the archive's folder is named after it)


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class Residual(nn.Module):
    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


# The 164-layer networks leave their batch norms out (nn.Identity in their place): they cost no
# multiply-adds, and with them the graph would pass the 1 MiB limit on files under entries/.
Norm = nn.Identity


class PreActBottleneck(nn.Module):
    """Stanford DAWN's pre-activation bottleneck (dawn-bench-models, pytorch/CIFAR10 models/resnet.py)."""

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = Norm(c_in), nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn2, self.conv2 = Norm(planes), nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3, self.conv3 = Norm(planes), nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.increasing = stride != 1 or c_in != 4 * planes
        self.shortcut = nn.Conv2d(c_in, 4 * planes, 1, stride, bias=False) if self.increasing else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        skip = h if self.increasing else x
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h)))
        h = self.conv3(F.relu(self.bn3(h)))
        return h + self.shortcut(skip)


class PreActBasic(nn.Module):
    """Stanford DAWN's pre-activation basic block (two 3x3 convolutions)."""

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = Norm(c_in), nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = Norm(planes), nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.increasing = stride != 1 or c_in != planes
        self.shortcut = nn.Conv2d(c_in, planes, 1, stride, bias=False) if self.increasing else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        skip = h if self.increasing else x
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(skip)


class TFBottleneck(nn.Module):
    """The TensorFlow version (dawn-bench-models tensorflow/CIFAR10 resnet_model.py): the stride is on the
    first 1x1 convolution, and a 1x1 projection joins the shortcut wherever the width changes."""

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = Norm(c_in), nn.Conv2d(c_in, planes, 1, stride, bias=False)
        self.bn2, self.conv2 = Norm(planes), nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn3, self.conv3 = Norm(planes), nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.project = nn.Conv2d(c_in, 4 * planes, 1, stride, bias=False) if c_in != 4 * planes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        skip = x if self.project is None else self.project(h)
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h)))
        return self.conv3(F.relu(self.bn3(h))) + skip


class TFBasic(nn.Module):
    """The TensorFlow basic unit: where the width changes the shortcut is average-pooled and zero-padded
    (no multiply-adds), not projected."""

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = Norm(c_in), nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = Norm(planes), nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.stride, self.extra = stride, planes - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        skip = h if self.extra else x
        if self.extra:
            skip = F.avg_pool2d(skip, self.stride, self.stride) if self.stride > 1 else skip
            skip = F.pad(skip, (0, 0, 0, 0, self.extra // 2, self.extra // 2))
        return self.conv2(F.relu(self.bn2(self.conv1(h)))) + skip


class PreActResNet(nn.Module):
    """3 sections of `blocks` blocks, 16/32/64 planes, stride 2 at the start of sections 2 and 3."""

    def __init__(self, block: type[nn.Module], blocks: int, expansion: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        layers, c_in = [], 16
        for section, planes in enumerate((16, 32, 64)):
            for i in range(blocks):
                layers.append(block(c_in, planes, 2 if section and i == 0 else 1))
                c_in = planes * expansion
        self.sections = nn.Sequential(*layers)
        self.bn = Norm(c_in)
        self.fc = nn.Linear(c_in, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.sections(self.conv1(x))))
        return self.fc(h.mean((2, 3)))


class WideBasic(nn.Module):
    """fast.ai's wide ResNet block (imagenet-fast e93593c, cifar10/models/wideresnet.py, from Cutout's code)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return out + (x if self.shortcut is None else self.shortcut(h))


def wrn_22() -> nn.Module:
    """wrn_22: depth 22, widen factor 6 (16, 96, 192, 384 channels), 3 blocks per group, no dropout."""
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False)]
    c_in = 16
    for group, width in enumerate((96, 192, 384)):
        for i in range(3):
            layers.append(WideBasic(c_in, width, 2 if group and i == 0 else 1))
            c_in = width
    layers += [nn.BatchNorm2d(384), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(384, 10)]
    return nn.Sequential(*layers)


def basenet_resnet18() -> nn.Module:
    """bkj's basenet ResNet-18 (basenet 49b2b61, examples/cifar10.py): a 64-wide prep convolution, four stages
    of two pre-activation blocks (64, 128, 256, 256), average- and max-pooled features concatenated into a
    linear layer of 512 to 10."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = [conv_bn(3, 64)]
            c_in = 64
            for stage, width in enumerate((64, 128, 256, 256)):
                for i in range(2):
                    layers.append(PreActBasic(c_in, width, 2 if stage and i == 0 else 1))
                    c_in = width
            self.body = nn.Sequential(*layers)
            self.classifier = nn.Linear(512, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x)
            return self.classifier(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1))

    return Net()


def _page_layers() -> list[nn.Module]:
    """Page's ResNet-9 after its 64-wide prep layer: 128-256-512, residual pairs after 128 and 512."""
    return [
        conv_bn(64, 128),
        nn.MaxPool2d(2),
        Residual(conv_bn(128, 128), conv_bn(128, 128)),
        conv_bn(128, 256),
        nn.MaxPool2d(2),
        conv_bn(256, 512),
        nn.MaxPool2d(2),
        Residual(conv_bn(512, 512), conv_bn(512, 512)),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(512, 10, bias=False),
    ]


def page_resnet9() -> nn.Module:
    """David Page's ResNet-9 (cifar10-fast, dawn.py): 64-128-256-512, residuals after layers 1 and 3."""
    return nn.Sequential(conv_bn(3, 64), *_page_layers())


def whitened_resnet9() -> nn.Module:
    """Apple's ml-cifar-10-faster ResNet-9 (also Ajay's 4-GPU fork): a frozen 3x3 whitening convolution to 27
    channels and a 1x1 convolution to 64 replace the prep layer; then Page's layers (conv, pool, norm)."""
    return nn.Sequential(
        nn.Conv2d(3, 27, 3, padding=1, bias=False),
        conv_bn(27, 64, kernel=1, padding=0),
        *_page_layers(),
    )


def kakao_resnet9(last: int) -> nn.Module:
    """Kakao Brain's ResNet-9 (torchskeleton bin/dawnbench/cifar10.py; cifar10_multigpu.py ends at 256 wide)."""
    return nn.Sequential(
        conv_bn(3, 64),
        conv_bn(64, 128, kernel=5, stride=2, padding=2),
        Residual(conv_bn(128, 128), conv_bn(128, 128)),
        conv_bn(128, 256),
        nn.MaxPool2d(2),
        Residual(conv_bn(256, 256), conv_bn(256, 256)),
        conv_bn(256, last, padding=0),
        nn.AdaptiveMaxPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(last, 10, bias=False),
    )


class ConvGroup(nn.Module):
    """airbench: conv, 2x2 max-pool, BN, GELU, conv, BN, GELU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.pool = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False), nn.MaxPool2d(2)
        self.norm1, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, padding="same", bias=False)
        self.norm2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


def airbench94() -> nn.Module:
    """Keller Jordan's airbench94 network: a 2x2 whitening convolution to 24 channels, then 64-256-256."""
    return nn.Sequential(
        nn.Conv2d(3, 24, 2, padding=0, bias=True),
        nn.GELU(),
        ConvGroup(24, 64),
        ConvGroup(64, 256),
        ConvGroup(256, 256),
        nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(256, 10, bias=False),
    )


def hlb_cifar10() -> nn.Module:
    """tysam-code's hlb-CIFAR10 v0.7.0 (main.py): the whitening convolution's 12 filters are concatenated with
    their negatives (24 channels), then conv groups of 64, 256 and 512, global max-pool, linear 512 to 10."""
    return nn.Sequential(
        nn.Conv2d(3, 24, 2, padding=0, bias=False),
        nn.GELU(),
        ConvGroup(24, 64),
        ConvGroup(64, 256),
        ConvGroup(256, 512),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(512, 10, bias=False),
    )


class HlbGroup(nn.Module):
    """hlb-CIFAR10 v0.1.0-v0.6.0 ConvGroup: conv, 2x2 max-pool, BN, activation, then `extra` convs (each BN,
    activation) added back to the pooled output; v0.3.0 scales the last of them by a squeeze-excitation."""

    def __init__(self, c_in: int, c_out: int, extra: int, act: Callable[[], nn.Module], se: bool = False) -> None:
        super().__init__()
        self.conv1, self.pool = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False), nn.MaxPool2d(2)
        self.norm1, self.act = nn.BatchNorm2d(c_out), act()
        self.convs = nn.ModuleList(nn.Conv2d(c_out, c_out, 3, padding="same", bias=False) for _ in range(extra))
        self.norms = nn.ModuleList(nn.BatchNorm2d(c_out) for _ in range(extra))
        self.se = nn.Sequential(nn.Linear(c_out, c_out // 16), act(), nn.Linear(c_out // 16, c_out)) if se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        if not self.convs:
            return x
        h = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = conv(h)
            if self.se is not None and i == len(self.convs) - 1:
                h = h * torch.sigmoid(self.se(x.mean((2, 3))))[:, :, None, None]
            h = self.act(norm(h))
        return h + x


def hlb_release(
    whiten: int,
    same: bool,
    init: int,
    groups: tuple[tuple[int, int], ...],
    act: Callable[[], nn.Module],
    se: bool = False,
) -> nn.Module:
    """tysam-code's hlb-CIFAR10 before v0.7.0 (main.py at each release): a frozen whitening convolution
    (3 x whiten^2 filters, 'same' padding in v0.1.0-v0.2.0, none from v0.3.0), a 1x1 projection to `init`
    channels, three conv groups of (width, extra convs), global max-pool, linear to 10 without bias."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 3 * whiten * whiten, whiten, padding="same" if same else 0, bias=False),
        nn.Conv2d(3 * whiten * whiten, init, 1, bias=False),
        nn.BatchNorm2d(init),
        act(),
    ]
    c_in = init
    for width, extra in groups:
        layers.append(HlbGroup(c_in, width, extra, act, se=se and extra > 0))
        c_in = width
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, 10, bias=False)]
    return nn.Sequential(*layers)


# name: (builder, training resolution in pixels)
MODELS = {
    "preact_resnet164_bottleneck.pt2": (lambda: PreActResNet(PreActBottleneck, 18, 4), 32),
    "preact_resnet164_basic.pt2": (lambda: PreActResNet(PreActBasic, 27, 1), 32),
    "tf_resnet164_bottleneck.pt2": (lambda: PreActResNet(TFBottleneck, 18, 4), 32),
    "tf_resnet164_basic.pt2": (lambda: PreActResNet(TFBasic, 27, 1), 32),
    # tensorpack's cifar10-resnet.py with n = 8 (6n + 2 = 50 layers): the same units as the TF ResNet-164 basic
    "tensorpack_resnet50.pt2": (lambda: PreActResNet(TFBasic, 8, 1), 32),
    "basenet_resnet18.pt2": (basenet_resnet18, 32),
    "page_resnet9.pt2": (page_resnet9, 32),
    "whitened_resnet9.pt2": (whitened_resnet9, 32),
    "fastai_wrn_22.pt2": (wrn_22, 32),
    "kakao_resnet9.pt2": (lambda: kakao_resnet9(128), 30),
    "kakao_resnet9_multigpu.pt2": (lambda: kakao_resnet9(256), 30),
    "airbench94.pt2": (airbench94, 32),
    "hlb_cifar10.pt2": (hlb_cifar10, 32),
    # v0.1.0 (GhostNorm) and v0.2.0 (BatchNorm, a faster max-pool): the same convolutions. Their CELU(0.3) is drawn
    # as ReLU: aten.celu is not on aieff's operator list, and an activation costs no multiply-adds.
    "hlb_cifar10_v0_1.pt2": (
        lambda: hlb_release(3, True, 64, ((128, 2), (256, 0), (512, 2)), nn.ReLU),
        32,
    ),
    "hlb_cifar10_v0_3.pt2": (lambda: hlb_release(2, False, 32, ((128, 2), (256, 0), (512, 2)), nn.GELU, se=True), 32),
    "hlb_cifar10_v0_4.pt2": (lambda: hlb_release(2, False, 32, ((128, 1), (256, 1), (512, 1)), nn.GELU), 32),
    # v0.5.0 and v0.6.0: the same convolutions (v0.5.0 drops the projection's BN; v0.6.0 renormalises weights)
    "hlb_cifar10_v0_5.pt2": (lambda: hlb_release(2, False, 32, ((64, 1), (256, 1), (512, 1)), nn.GELU), 32),
}


def export(name: str, out: Path = HERE) -> Path:
    """Build one network on the meta device and save its graph into `out`."""
    build, side = MODELS[name]
    with torch.device("meta"):
        model = build().eval()
    return save_graph_only(model, (torch.empty(1, 3, side, side, device="meta"),), out / name)


if __name__ == "__main__":
    export_script(MODELS, export, HERE, sys.argv[1:])
