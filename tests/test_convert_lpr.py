"""Import of the authors' checkpoint layout.

The released generator is rebuilt here as a plain module tree with the released module indices and
PyTorch's old spectral-norm hook, so its ``state_dict`` has exactly the released key names, and the
hook itself computes the effective weights the import must reproduce.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import spectral_norm

from export.base_model import BaseModelError, load_base
from export.lpr_checkpoint import load_released
from export.models import get_config


def _sn(m):
    return spectral_norm(m, eps=1e-4)


class _ReleasedBlock(nn.Module):
    """Indices as in the release: [AdaIN, ReLU, (Upsample), pad, conv, AdaIN, ReLU, pad, conv]."""

    def __init__(self, cin, cout, up):
        super().__init__()
        layers = [nn.Identity(), nn.ReLU()] + ([nn.Upsample(scale_factor=2)] if up else [])
        layers += [nn.Sequential(), _sn(nn.Conv2d(cin, cout, 3, 1, 1, bias=False)), nn.Identity(),
                   nn.ReLU(), nn.Sequential(), _sn(nn.Conv2d(cout, cout, 3, 1, 1, bias=False))]
        self.block = nn.Sequential(*layers)
        self.skip = nn.Sequential(nn.Upsample(scale_factor=2), _sn(nn.Conv2d(cin, cout, 1))) if up else None


class _Constant(nn.Module):
    def __init__(self):
        super().__init__()
        self.constant = nn.Parameter(torch.randn(1, 512, 4, 4))


class _ReleasedGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = get_config("lpr256")
        ch = cfg.gen_channels
        self.constant = _Constant()
        blocks = [_ReleasedBlock(512, 512, False) for _ in range(2)]
        blocks += [_ReleasedBlock(a, b, True) for a, b in zip(ch[:-1], ch[1:])]
        blocks += [nn.Identity(), nn.ReLU(), _sn(nn.Conv2d(ch[-1], 4, 3, 1, 1)), nn.Tanh()]
        self.decoder_blocks = nn.Sequential(*blocks)
        self.affine_params_projector = nn.Sequential(_sn(nn.Linear(768, 768)), nn.ReLU(),
                                                     _sn(nn.Linear(768, 13056)))


def _released(seed):
    torch.manual_seed(seed)
    gen = _ReleasedGenerator()
    with torch.no_grad():
        for buf in gen.buffers():  # stored u, v: arbitrary unit vectors
            buf.copy_(nn.functional.normalize(torch.randn_like(buf), dim=0))
    gen.eval()
    for module in gen.modules():  # let each hook compute its weight from the stored u, v (no iteration)
        for hook in module._forward_pre_hooks.values():
            hook(module, None)
    from export.models import create_model
    enc = create_model("lpr256")
    embedder = {k: v for k, v in enc.state_dict().items() if not k.startswith("generator.")}
    return gen, embedder


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    raw_gen, raw_emb = _released(0)
    ema_gen, ema_emb = _released(1)
    path = tmp_path_factory.mktemp("lpr") / "latent-pose-release.pth"
    torch.save({"embedder": raw_emb, "generator": raw_gen.state_dict(), "discriminator": {},
                "optimizer_G": {}, "optimizer_D": {}, "args": argparse.Namespace(image_size=256),
                "running_averages": {"embedder": ema_emb, "generator": ema_gen.state_dict()}}, path)
    return path, ema_gen, ema_emb


def test_import_uses_ema_and_folds_spectral_norm(released):
    path, ema_gen, ema_emb = released
    base, identity = load_released(path)
    assert identity is None and base.cfg.driving_mode == "face" and base.info["weights"] == "EMA"
    gen = base.model.generator
    blocks = ema_gen.decoder_blocks
    with torch.no_grad():
        # The hook computes W_orig / (u . W v) from the stored vectors in eval mode.
        pairs = [(gen.constant, ema_gen.constant.constant),
                 (gen.blocks[0].conv1.weight, blocks[0].block[3].weight),
                 (gen.blocks[1].conv2.weight, blocks[1].block[7].weight),
                 (gen.blocks[2].conv1.weight, blocks[2].block[4].weight),
                 (gen.blocks[7].conv2.weight, blocks[7].block[8].weight),
                 (gen.blocks[5].skip.weight, blocks[5].skip[1].weight),
                 (gen.blocks[5].skip.bias, blocks[5].skip[1].bias),
                 (gen.out_conv.weight, blocks[10].weight),
                 (gen.mlp[0].weight, ema_gen.affine_params_projector[0].weight),
                 (gen.mlp[2].bias, ema_gen.affine_params_projector[2].bias)]
        for mine, theirs in pairs:
            torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)
    emb = base.model.state_dict()
    for key in ("identity_encoder.layer3.2.conv2.weight", "pose_encoder.features.5.conv.1.0.weight"):
        torch.testing.assert_close(emb[key], ema_emb[key])


def test_cli_writes_pickle_free_base(released, tmp_path):
    path, _, _ = released
    out = tmp_path / "lpr.safetensors"
    run = subprocess.run([sys.executable, "-m", "export.cli", "convert-lpr", str(path), "-o", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] != b"PK\x03\x04"  # not a torch zip-pickle
    base = load_base(out)
    assert base.preset == "lpr256" and base.cfg.resolution == 256


@pytest.mark.parametrize("kind", ["garbage", "truncated", "wrong_arch", "not_dict"])
def test_bad_checkpoints(released, tmp_path, kind):
    path, _, _ = released
    bad = tmp_path / f"{kind}.pth"
    if kind == "garbage":
        bad.write_bytes(b"this is not a checkpoint" * 100)
    elif kind == "truncated":
        bad.write_bytes(path.read_bytes()[: 5_000_000])
    elif kind == "wrong_arch":
        torch.save({"embedder": {"identity_encoder.fc.weight": torch.zeros(3, 3)},
                    "generator": {"constant.constant": torch.zeros(1, 8, 4, 4)}}, bad)
    else:
        torch.save([1, 2, 3], bad)
    with pytest.raises(BaseModelError, match=bad.name):
        load_released(bad)
    run = subprocess.run([sys.executable, "-m", "export.cli", "convert-lpr", str(bad), "-o",
                          str(tmp_path / "out.safetensors")], capture_output=True, text=True)
    assert run.returncode == 1
    assert bad.name in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.safetensors").exists()
