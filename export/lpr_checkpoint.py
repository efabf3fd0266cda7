"""Import of the authors' released checkpoint (``latent-pose-release.pth``) into a base model.

The released file is a pickle (it holds an argparse.Namespace), so it needs
``torch.load(weights_only=False)``: only open files from a source you trust. The result is this
project's pickle-free base-model file. What is done:
- the EMA copies (``running_averages``) of embedder and generator are used when present;
- spectral norm is folded: W = W_orig / sigma, sigma = u . (W_mat v) from the STORED u and v,
  exactly what the old hook API computes at inference (no power iteration);
- generator modules are renamed (``decoder_blocks.{i}.block.{j}`` -> ``blocks.{i}.conv{1,2}``);
  the AdaIN slicing order (per layer, C shifts then C scales) is the same on both sides.
The discriminator is not imported: its per-video embedding table belongs to the authors' data.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from .base_model import BaseModel, BaseModelError
from .models import LatentPoseModel, get_config


def fold_spectral_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every ``X.weight_orig/_u/_v`` triple by the effective ``X.weight``."""
    out = {}
    for key, value in state.items():
        if key.endswith(("weight_u", "weight_v")):
            continue
        if key.endswith("weight_orig"):
            stem = key[: -len("weight_orig")]
            u, v = state[stem + "weight_u"], state[stem + "weight_v"]
            w_mat = value.reshape(value.shape[0], -1)  # [out, in, (kh, kw)] -> [out, in*kh*kw]
            sigma = torch.dot(u, w_mat @ v)
            out[stem + "weight"] = value / sigma
        else:
            out[key] = value
    return out


def _generator_key(key: str, num_res_blocks: int) -> str | None:
    """Released generator key -> this project's key (None for keys that are not weights)."""
    if key == "constant.constant":
        return "constant"
    if key.startswith("affine_params_projector."):
        return "mlp." + key[len("affine_params_projector."):]
    parts = key.split(".")
    if parts[0] != "decoder_blocks":
        return None
    i = int(parts[1])
    final_conv = num_res_blocks + 6 + 2  # after the blocks: AdaIN, ReLU, then the conv
    if i == final_conv:
        return "out_conv." + ".".join(parts[2:])
    upsample = i >= num_res_blocks
    conv_index = {(False, "3"): "conv1", (False, "7"): "conv2", (True, "4"): "conv1", (True, "8"): "conv2"}
    if parts[2] == "block":
        name = conv_index.get((upsample, parts[3]))
        return None if name is None else f"blocks.{i}.{name}.{'.'.join(parts[4:])}"
    if parts[2] == "skip":
        return f"blocks.{i}.skip.{'.'.join(parts[4:])}"
    return None


def convert_state(ckpt: dict, source: str) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Released checkpoint dict -> (LatentPoseModel state dict, identity embedding or None)."""
    for part in ("embedder", "generator"):
        if part not in ckpt or not isinstance(ckpt[part], dict):
            raise BaseModelError(f"{source}: not a latent-pose checkpoint (no '{part}' state dict)")
    ema = ckpt.get("running_averages") or {}
    embedder = ema.get("embedder") or ckpt["embedder"]
    generator = fold_spectral_norm(ema.get("generator") or ckpt["generator"])
    cfg = get_config("lpr256")
    state: dict[str, torch.Tensor] = {}
    for key, value in embedder.items():
        if key.startswith(("identity_encoder.", "pose_encoder.")):
            state[key] = value
    identity = generator.pop("identity_embedding", None)
    for key, value in generator.items():
        new = _generator_key(key, cfg.gen_res_blocks)
        if new is not None:
            state["generator." + new] = value
    return state, identity


def load_released(path: str | os.PathLike) -> tuple[BaseModel, torch.Tensor | None]:
    """Read the authors' file into a base model (``lpr256``, driving mode ``face``)."""
    path = Path(path)
    if not path.is_file():
        raise BaseModelError(f"{path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, ValueError,
            AttributeError, ModuleNotFoundError) as e:
        raise BaseModelError(f"{path}: cannot read as a PyTorch checkpoint (truncated or not a "
                             f"checkpoint): {type(e).__name__}: {e}") from None
    if not isinstance(ckpt, dict):
        raise BaseModelError(f"{path}: not a latent-pose checkpoint (top level is {type(ckpt).__name__})")
    state, identity = convert_state(ckpt, str(path))
    model = LatentPoseModel(get_config("lpr256"))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or wrong:
        detail = (f"missing {missing[:3]}" if missing else
                  f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}")
        raise BaseModelError(f"{path}: weights do not fit the released architecture ({detail})")
    model.load_state_dict({k: state[k].float() for k in expected})
    info = {"source": path.name, "weights": "EMA" if ckpt.get("running_averages") else "raw",
            "note": "imported from the authors' release (Burkov et al. 2020)"}
    return BaseModel(model=model.eval(), preset="lpr256", info=info), identity
