"""The latent-pose model: identity encoder, pose encoder and generator, with explicit inputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_encoder
from .config import ModelConfig, get_config
from .generator import Generator
from .hair import hair_maps
from .head_motion import POSE_INDEX, neck_fade
from .strokes import Strokes, stroke_maps
from .warp_head import REGION_PARAMS, REGION_SHARPENING, REGIONS, REST, Shares, WarpHead, WarpOutput, softmax_channels


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode (batch norm at its running statistics, the regions and the choice
    sharpened as at inference) and without gradients, each submodule's mode restored after."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes.items():
            m.training = training


class LatentPoseModel(nn.Module):
    """Inputs are RGB in [0,1] at ``cfg.resolution`` (no ImageNet normalisation, as released)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.identity_encoder = build_encoder(cfg.identity_arch, cfg.identity_dim, cfg.identity_width)
        self.pose_encoder = build_encoder(cfg.pose_arch, cfg.pose_dim, cfg.pose_width)
        self.generator = Generator(cfg)
        self.warp = (WarpHead(cfg.pose_dim, cfg.warp_flow, cfg.resolution, cfg.calibrated_pose)
                     if cfg.head == "warp" else None)

    def identity(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, K, 3, H, W] -> [B, I]: the mean of the K per-frame embeddings."""
        b, k = frames.shape[:2]
        emb = self.identity_encoder(frames.flatten(0, 1))  # [B*K, 3, H, W] -> [B*K, I]
        return emb.view(b, k, -1).mean(1)  # [B*K, I] -> [B, K, I] -> [B, I]

    def pose(self, driver: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] -> [N, P]."""
        return self.pose_encoder(driver)

    def forward(self, identity: torch.Tensor, driver: torch.Tensor, references: torch.Tensor | None = None,
                reference_params: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """identity [N, I], driver [N, 3, H, W] -> rgb [N, 3, S, S], mask [N, 1, S, S]. The
        synthesis head draws at S = H; the warp head draws from ``references`` [N, R, 4, S, S] (RGB
        and mask) with their expression parameters ``reference_params`` [N, R, NUM_PARAMS]."""
        pose = self.pose(driver)
        if self.warp is None:
            return self.generator(identity, pose)
        if references is None or reference_params is None:
            raise ValueError("a warp-head model draws from reference images: give references and their parameters")
        out = self.reenact(identity, pose, references, reference_params)
        return out.rgb, out.mask

    def reenact(self, identity: torch.Tensor, pose: torch.Tensor, references: torch.Tensor,
                reference_params: torch.Tensor, reference_unit: torch.Tensor | None = None,
                head_size: torch.Tensor | None = None) -> WarpOutput:
        """The warp head: identity [N, I], pose code [N, P], references [N, R, 4, S, S] (RGB and
        mask), reference_params [N, R, NUM_PARAMS] -> the picture drawn from the references;
        ``reference_unit``: see :meth:`read_references`; ``head_size`` [N]: each head's size
        relative to the proxy's (None: the proxy's)."""
        raw = self.generator.raw(self.generator.adain_params(identity, pose))
        size = 1.0 if head_size is None else head_size.float()[:, None, None, None]  # [N,1,1,1]: as the grids' points
        return self.warp(raw, pose, references, reference_params, reference_unit=reference_unit, head_size=size)

    def read_references(self, drivers: torch.Tensor) -> torch.Tensor:
        """[..., 3, H, W] drivers showing the references -> [..., NUM_PARAMS]: what the read-out
        makes of them, as the frozen character reads them (the pose encoder's batch norm at its
        running statistics, no gradient), in meta-training as at inference."""
        with evaluating(self.pose_encoder):
            unit = self.warp.readout(self.pose_encoder(drivers.flatten(0, -4).float()))
        return unit.view(*drivers.shape[:-3], -1)


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

    def adain_params(self, pose: torch.Tensor) -> torch.Tensor:
        """The generator's AdaIN parameters for a pose code, the identity folded in."""
        return self.generator.mlp[2](torch.relu(self.pose_in(pose)))

    def forward(self, driver: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pose = self.pose_encoder(driver)
        rgb, mask = self.generator.decode(self.adain_params(pose))
        return rgb, mask, pose


class FrozenWarpCharacter(FrozenCharacter):
    """A warp-head character: identity folded in as above, and its reference images and their
    expression parameters frozen in as constants.

    ``forward(driver [N,3,H,W], previous_choice [1,4,R] | None) -> (rgb [N,3,S,S], mask
    [N,1,S,S], pose [N,P], choice [N,4,R])`` at the references' side S (the output resolution),
    which may exceed the model's H. The references are kept as uint8 so that the exported graph
    stores them at a byte per value.

    ``reference_drivers`` [R,3,H,W]: a driver showing each reference (the proxy at its expression,
    or the image itself for a face-driven base). The choice of drawing places each reference
    where the read-out puts that driver, not at its parameters: the read-out is biased (the
    shipped base reads a smile at a third of its size), and compared with a driver read through
    the same bias, a driver showing a drawing's expression chooses that drawing. Mina driven at
    mina_3's expression took mina_4's mouth (masked L1 0.030); placed by the read-out, each of
    her drawings and the procedural characters' is chosen for its own expression by every region.

    ``shares``: how much of the base's learnt local flow and residual the character uses (see
    ``export.character.CharacterOptions``). ``head_size``: the character's head relative to the
    proxy's, for the parallax of its turns (:meth:`export.base_model.BaseModel.head_size_of`);
    ``soft_edge``: its head's depth falls to the outline linearly (``head_motion_grid``).

    Drawings that share one pose (a sheet drawn alike) are composed by strokes, their maps frozen
    in too (``export/models/strokes.py``).
    """

    def __init__(self, model: LatentPoseModel, identity: torch.Tensor, references: torch.Tensor,
                 reference_params: torch.Tensor, reference_drivers: torch.Tensor, shares: Shares = Shares(),
                 head_size: float = 1.0, soft_edge: bool = False):
        super().__init__(model, identity)
        self.shares, self.head_size, self.soft_edge = shares, float(head_size), soft_edge
        if references.dtype != torch.uint8 or references.dim() != 4 or references.shape[1] != 4:
            raise ValueError(f"references must be uint8 [R,4,S,S] (RGB and mask), not {references.dtype} "
                             f"{tuple(references.shape)}")
        if len(reference_drivers) != len(references):
            raise ValueError(f"{len(references)} references but {len(reference_drivers)} drivers showing them")
        self.warp = model.warp
        self.register_buffer("references", references.clone())
        # a figure with a neck and body keeps the body still as the head rolls; a head alone (Mina) rolls whole
        self.neck = neck_fade(references[:, 3] > 127)
        # with a neck, the hair that hangs beside it turns with the head
        self.register_buffer("hair", None if self.neck is None else
                             hair_maps(references, model.cfg.resolution, below=self.neck.full))
        self.register_buffer("reference_params", reference_params.float().clone())
        self.register_buffer("reference_unit", model.read_references(reference_drivers))
        pose = self.reference_params[:, POSE_INDEX]
        self.shared_pose = bool((pose == pose[:1]).all())
        maps = clash = self.stroke_box = None
        if self.shared_pose:  # a sheet drawn alike (or one drawing): composed by strokes
            side = reference_drivers.shape[-1]
            sheet = F.interpolate(references.float() * (1 / 255), size=(side, side), mode="area")
            maps, clash, self.stroke_box = stroke_maps(sheet, self.regions_on_sheet(reference_drivers))
        self.register_buffer("stroke_maps", maps)
        self.register_buffer("stroke_clash", clash)

    def regions_on_sheet(self, drivers: torch.Tensor) -> torch.Tensor:
        """[3,h,h]: how much the eyes and the mouth cover each pixel, the mean over the drivers
        showing each drawing (whose pose is the sheet's)."""
        with evaluating(self):
            raw = self.generator.raw(self.adain_params(self.pose_encoder(drivers.float())))
            regions = softmax_channels(raw[:, REGIONS] * self.warp.sharpening(REGION_SHARPENING))
        return regions[:, :REST].mean(0)

    def strokes(self) -> Strokes | None:
        return None if self.stroke_maps is None else Strokes(self.stroke_maps, self.stroke_clash, self.stroke_box)

    def nothing_held(self) -> torch.Tensor:
        """[1, regions, R] zeros: a previous choice that holds no drawing."""
        return torch.zeros(1, len(REGION_PARAMS), len(self.references))

    def forward(self, driver: torch.Tensor, previous_choice: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n = driver.shape[0]
        pose = self.pose_encoder(driver)
        raw = self.generator.raw(self.adain_params(pose))
        references = (self.references.float() * (1 / 255))[None]  # [1,R,4,S,S], the same for every driver
        out = self.warp(raw, pose, references, self.reference_params[None].expand(n, -1, -1),
                        shared_pose=self.shared_pose, previous_choice=previous_choice,
                        reference_unit=self.reference_unit[None], shares=self.shares, strokes=self.strokes(),
                        head_size=self.head_size, soft_edge=self.soft_edge, neck=self.neck, hair=self.hair)
        return out.rgb, out.mask, pose, out.choice


def create_model(name: str, **overrides) -> LatentPoseModel:
    return LatentPoseModel(get_config(name, **overrides))
