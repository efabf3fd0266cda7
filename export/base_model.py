"""Base-model files: safetensors weights with the architecture and provenance in its metadata.

A base model rebuilds from its file alone (``load_base``), and opening one cannot run code: no
pickle is involved. Weights may be stored in fp16 to keep shipped files small; they are loaded
as float32. The metadata also holds the proxy seed: the procedural identity whose renders
drove the model in training, which its characters are fine-tuned against and driven by.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from puppet import params as P
from puppet.base_file import FORMAT
from puppet.files import atomic_write
from puppet.heads import HEAD_SIZES, PROXY

from .models import Discriminator, LatentPoseModel, ModelConfig
from .models.param_units import from_unit

FORMAT_VERSION = 1
# Base files written before the proxy seed was stored (the shipped toon base among them) were all
# trained with the proxy identity 0.
UNSTORED_PROXY_SEED = 0


class BaseModelError(ValueError):
    """A base-model file that cannot be used; the message names the file."""


@dataclass
class BaseModel:
    model: LatentPoseModel
    discriminator: Discriminator | None = None
    preset: str = "custom"
    info: dict = field(default_factory=dict)  # provenance: source, training steps, eval figures
    readout: torch.nn.Linear | None = None  # pose code -> expression parameters scaled to [-1, 1],
    # learnt on procedural heads (proxy-mode models trained with --w-pose-params)
    proxy_seed: int = UNSTORED_PROXY_SEED  # the identity whose renders drive proxy-mode characters
    head_sizer: torch.nn.Linear | None = None  # identity code -> head size (relative to the proxy's),
    # fitted on procedural identities after training (``fit-head-size``)

    @property
    def cfg(self) -> ModelConfig:
        return self.model.cfg

    def read_expression(self, images: np.ndarray) -> np.ndarray:
        """[N,3,R,R] float images in [0,1] -> [N, NUM_PARAMS] expression parameters, read from the
        pose code by the read-out; a ValueError if this base has none."""
        if self.readout is None:
            raise ValueError("this base model has no expression read-out (trained without --w-pose-params)")
        with torch.no_grad():
            unit = self.readout(self.model.eval().pose(torch.from_numpy(np.ascontiguousarray(images))))
        return from_unit(unit).numpy()  # clamped into the ranges

    def head_size_of(self, identity: torch.Tensor) -> float:
        """The head size of a character's identity code [1, I], relative to the proxy's, within the
        range procedural heads have; 1 (the proxy's) for a base without a head-size read-out."""
        if self.head_sizer is None:
            return 1.0
        with torch.no_grad():
            size = float(self.head_sizer(identity.float())[0, 0])
        low, high = (s / PROXY.head_size for s in HEAD_SIZES)
        return min(max(size, low), high)


def save_base(base: BaseModel, path: str | os.PathLike, half: bool = False) -> Path:
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in base.model.state_dict().items()}
    for name, part in (("discriminator", base.discriminator), ("readout", base.readout),
                       ("head_sizer", base.head_sizer)):
        if part is not None:
            tensors.update({f"{name}.{k}": v for k, v in part.state_dict().items()})
    tensors = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
               for k, v in tensors.items()}
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "preset": base.preset,
            "config": base.cfg.to_json(), "info": json.dumps(base.info, sort_keys=True),
            "proxy_seed": str(base.proxy_seed)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    return path


def average_bases(bases: list[BaseModel], names: list[str]) -> BaseModel:
    """The mean of the floating-point weights of bases of one architecture (checkpoints of one run:
    their average is steadier than any one of them); the last base gives everything else. A
    ValueError naming the file when the architectures differ."""
    last = bases[-1]
    parts = [lambda b: b.model, lambda b: b.discriminator, lambda b: b.readout, lambda b: b.head_sizer]
    for base, name in zip(bases, names):
        if base.preset != last.preset or base.cfg != last.cfg:
            raise BaseModelError(f"{name}: not the architecture of {names[-1]} (cannot average them)")
        if any((part(base) is None) != (part(last) is None) for part in parts):
            raise BaseModelError(f"{name}: holds other parts than {names[-1]} (cannot average them)")
    with torch.no_grad():
        for part in parts:
            if part(last) is None:
                continue
            states = [part(b).state_dict() for b in bases]
            for key, value in states[-1].items():
                if value.is_floating_point():
                    value.copy_(torch.stack([s[key] for s in states]).mean(0))
    last.info["averaged"] = [b.info.get("steps") for b in bases]
    return last


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise BaseModelError(f"{path}: not a base-model file ({e})") from None


def load_base(path: str | os.PathLike, with_discriminator: bool = True) -> BaseModel:
    path = Path(path)
    if not path.is_file():
        raise BaseModelError(f"{path}: no such base-model file")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise BaseModelError(f"{path}: not a puppet base model (metadata format is {meta.get('format')!r})")
    if int(meta.get("format_version", "0")) > FORMAT_VERSION:
        raise BaseModelError(f"{path}: base-model format {meta['format_version']} is newer than this program")
    try:
        cfg = ModelConfig.from_json(meta["config"])
        proxy_seed = int(meta.get("proxy_seed", UNSTORED_PROXY_SEED))
        tensors = load_file(str(path))
    except (KeyError, ValueError, TypeError, SafetensorError) as e:
        raise BaseModelError(f"{path}: damaged base-model file ({e})") from None
    model = LatentPoseModel(cfg)
    _load_part(model, tensors, "model.", path, strict=True)
    disc = None
    if with_discriminator and any(k.startswith("discriminator.") for k in tensors):
        disc = Discriminator(cfg)
        _load_part(disc, tensors, "discriminator.", path, strict=True)
    readout = _optional_part(torch.nn.Linear(cfg.pose_dim, P.NUM_PARAMS), tensors, "readout.", path)
    head_sizer = _optional_part(torch.nn.Linear(cfg.identity_dim, 1), tensors, "head_sizer.", path)
    return BaseModel(model=model.eval(), discriminator=disc, preset=meta.get("preset", "custom"),
                     info=json.loads(meta.get("info", "{}")), readout=readout, proxy_seed=proxy_seed,
                     head_sizer=head_sizer)


def _optional_part(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path):
    """``module`` loaded from the file's weights under ``prefix``, or None where it holds none."""
    if not any(k.startswith(prefix) for k in tensors):
        return None
    _load_part(module, tensors, prefix, path, strict=True)
    return module


def _load_part(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path,
               strict: bool) -> None:
    part = {k[len(prefix):]: v.float() if v.is_floating_point() else v
            for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(part, strict=strict)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise BaseModelError(f"{path}: weights do not match the architecture in its metadata ({first})") from None
