"""Resumable training state without pickle: tensors in safetensors, everything else in JSON.

Optimizer state dicts are flattened: ``opt_g/state/<param index>/<key>`` for tensors, with the
param groups and any plain numbers in the JSON side-car.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from puppet.files import atomic_write

log = logging.getLogger(__name__)


def _flatten_optimizer(prefix: str, state: dict, tensors: dict, meta: dict) -> None:
    plain: dict = {"param_groups": state["param_groups"], "scalars": {}}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}/state/{idx}/{key}"] = value.detach().cpu().contiguous()
            else:
                plain["scalars"][f"{idx}/{key}"] = value
    meta[prefix] = plain


def _unflatten_optimizer(prefix: str, tensors: dict, meta: dict) -> dict:
    plain = meta[prefix]
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "/state/"):
            idx, key = name[len(prefix) + 7:].split("/", 1)
            state.setdefault(int(idx), {})[key] = value
    for name, value in plain["scalars"].items():
        idx, key = name.split("/", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": plain["param_groups"]}


def save_training_state(path: Path, modules: dict[str, torch.nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer], info: dict) -> None:
    """``path``.safetensors and ``path``.json, each written atomically (JSON last: it marks completion)."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {"info": info}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}/{key}"] = value.detach().cpu().contiguous()
    for name, opt in optimizers.items():
        _flatten_optimizer(name, opt.state_dict(), tensors, meta)
    atomic_write(path.with_suffix(".safetensors"), lambda tmp: save_file(tensors, str(tmp)))
    atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta)))


def load_training_state(path: Path, modules: dict[str, torch.nn.Module],
                        optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict, set[str]]:
    """Restores what the checkpoint holds; returns its info and the names it did not have. A
    module or optimizer that the checkpoint does not have at all (one added to training since)
    keeps its fresh state and is named in a warning; one that is there must match exactly."""
    meta = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    fresh: set[str] = set()
    for name, module in modules.items():
        part = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + "/")}
        if part:
            module.load_state_dict(part)
        elif module.state_dict():
            log.warning("%s has no %r: it starts fresh", path.with_suffix(".safetensors"), name)
            fresh.add(name)
    for name, opt in optimizers.items():
        if name in meta:
            opt.load_state_dict(_unflatten_optimizer(name, tensors, meta))
        else:
            log.warning("%s has no %r: it starts fresh", path.with_suffix(".json"), name)
            fresh.add(name)
    return meta["info"], fresh
