"""The latent-pose model: identity encoder, pose encoder and generator, with explicit inputs."""

from __future__ import annotations

import torch
from torch import nn

from .backbones import build_encoder
from .config import ModelConfig
from .generator import Generator


class LatentPoseModel(nn.Module):
    """Inputs are RGB in [0,1] at ``cfg.resolution`` (no ImageNet normalisation, as released)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.identity_encoder = build_encoder(cfg.identity_arch, cfg.identity_dim, cfg.identity_width)
        self.pose_encoder = build_encoder(cfg.pose_arch, cfg.pose_dim, cfg.pose_width)
        self.generator = Generator(cfg)

    def identity(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, K, 3, H, W] -> [B, I]: the mean of the K per-frame embeddings."""
        b, k = frames.shape[:2]
        emb = self.identity_encoder(frames.flatten(0, 1))  # [B*K, 3, H, W] -> [B*K, I]
        return emb.view(b, k, -1).mean(1)  # [B*K, I] -> [B, K, I] -> [B, I]

    def pose(self, driver: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, P]."""
        return self.pose_encoder(driver)

    def forward(self, identity: torch.Tensor, driver: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """identity [N, I], driver [N, 3, H, W] -> rgb [N, 3, H, W], mask [N, 1, H, W]."""
        return self.generator(identity, self.pose(driver))


class FrozenCharacter(nn.Module):
    """One character with its identity folded into the generator's first MLP layer.

    ``forward(driver [N,3,H,W]) -> (rgb [N,3,H,W], mask [N,1,H,W], pose [N,P])``: the graph that
    goes into a bundle. Folding ``W[:, :I] @ identity + b`` into one bias removes the identity
    input, so the exported graph cannot be given another identity by mistake.
    """

    def __init__(self, model: LatentPoseModel, identity: torch.Tensor):
        super().__init__()
        cfg = model.cfg
        self.pose_encoder = model.pose_encoder
        self.generator = model.generator
        first: nn.Linear = model.generator.mlp[0]
        with torch.no_grad():
            w_id, w_pose = first.weight[:, :cfg.identity_dim], first.weight[:, cfg.identity_dim:]
            bias = first.bias + identity.reshape(-1) @ w_id.T
        self.pose_in = nn.Linear(cfg.pose_dim, cfg.mlp_hidden)
        with torch.no_grad():
            self.pose_in.weight.copy_(w_pose)
            self.pose_in.bias.copy_(bias)

    def forward(self, driver: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pose = self.pose_encoder(driver)
        hidden = torch.relu(self.pose_in(pose))
        params = self.generator.mlp[2](hidden)
        rgb, mask = self.generator.decode(params)
        return rgb, mask, pose


def create_model(name: str, **overrides) -> LatentPoseModel:
    from .config import get_config
    return LatentPoseModel(get_config(name, **overrides))
