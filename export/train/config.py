"""Training settings: one frozen dataclass, and the command-line options generated from it."""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "toon"
    out: str = "runs/toon"
    steps: int = 20000
    batch: int = 8
    k_frames: int = 3  # identity frames per sample
    data: str = "procedural"  # "procedural", or a folder of talking-head videos / frame folders
    samples_per_video: int = 1000  # video data: samples drawn from each video in one pass (epoch)
    train_identities: int = 0  # procedural data: 0 = an endless stream of new identities
    world: str = "classic"  # procedural data: "classic" heads, or "styled" (many drawing styles)
    lr_g: float = 2e-4
    lr_d: float = 4e-4
    clip_grad: float = 0.0  # the generator's (and read-out's) gradient norm is clipped to this; 0: not
    # clipped. Two warp legs at lr 1e-4 saw their loss jump after about 2000 steps and not come back
    ema: float = 0.999
    proxy_prob: float = 0.5  # proxy-mode models: chance that the pose input is the proxy's render
    proxy_seed: int = 0  # the procedural identity of those renders; stored in the base file
    w_l1: float = 1.0  # per scale (1, 1/2, 1/4)
    w_features: float = 1.0  # L1 over the eyes and mouth (procedural data)
    w_pose_params: float = 1.0  # a linear read-out of the true expression from the pose code
    # (procedural data): keeps blinks and mouth movement from vanishing into a few per cent of the code
    mouth_emphasis: float = 1.0  # weight of the mouth's parameters in that read-out, the others' being 1:
    # the mouth is a few pixels at 128x128 and the last thing the pose code learns to carry
    w_regions: float = 0.5  # warp head: its eye/mouth/rest regions against the renderer's feature points
    w_alpha: float = 0.02  # warp head: the residual's alpha, so that copying the references is the cheap path
    single_reference: float = 0.0  # warp head: the share of samples whose references are one rest drawing
    init: str = ""  # a base-model file to start from (the tensors that fit; a new run only)
    w_perceptual: float = 0.1
    w_adversarial: float = 0.05
    w_feature_matching: float = 1.0
    w_dice: float = 1.0
    gan_start: int = 0  # steps of reconstruction-only training before the discriminator joins
    perceptual: str = "mobilenet_v2"  # or a path to torchvision VGG19 weights (.pth state dict)
    workers: int = 1
    threads: int = 0  # torch threads for the step; 0 = torch's default. On a busy or small CPU, 1 is
    # often fastest (measured on 2 shared cores: 1.67 samples/s with 1 thread, 0.61 with 2)
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    amp: bool = True  # mixed precision, used only on GPU
    resume: bool = False

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))


def add_dataclass_options(parser: argparse.ArgumentParser, cls) -> None:
    """One ``--name`` option per field, typed and defaulted from the dataclass."""
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            name = f.type if isinstance(f.type, str) else f.type.__name__
            kind = {"int": int, "float": float, "str": str}.get(name, str)
            parser.add_argument(flag, type=kind, default=default, help=f"default: {default}")


def share(text: str) -> float:
    """An argparse type: a share in [0, 1] (an option naming it and the value when outside)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
