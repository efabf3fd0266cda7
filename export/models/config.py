"""Architecture presets: one frozen dataclass, named instances in one dict, one constructor."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a latent-pose model from a file.

    ``gen_channels`` lists the generator's channels at 4x4 and after each upsampling block, so the
    output side is ``4 * 2 ** (len(gen_channels) - 1)``. ``head`` is what the generator's output
    becomes: ``synthesis`` (RGB and mask, every pixel drawn: the released model) or ``warp`` (motion,
    a choice among the character's reference images and a residual: see ``warp_head``).
    """

    resolution: int = 256
    identity_arch: str = "resnext50_32x4d"
    identity_width: float = 1.0
    identity_dim: int = 512
    pose_arch: str = "mobilenet_v2"
    pose_width: float = 1.0
    pose_dim: int = 256
    gen_channels: tuple[int, ...] = (512, 512, 512, 512, 256, 128, 64)
    gen_res_blocks: int = 2
    mlp_hidden: int = 768
    disc_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
    driving_mode: str = "face"
    head: str = "synthesis"
    warp_flow: float = 0.08  # warp head: bound of the local flow, in grid units (2 = the side); 0: none
    # warp head: the references' head pose is moved by the read-out's error on drivers showing
    # them, so that the read-out's bias cancels (see warp_head.WarpHead.calibrate); a base is
    # trained one way or the other, and older bases (without the key) were not
    calibrated_pose: bool = False

    def __post_init__(self) -> None:
        side = 4 * 2 ** (len(self.gen_channels) - 1)
        if side != self.resolution:
            raise ValueError(f"gen_channels gives {side}x{side} output, resolution says {self.resolution}")
        if self.driving_mode not in ("face", "proxy"):
            raise ValueError(f"driving_mode must be 'face' or 'proxy', not {self.driving_mode!r}")
        if self.head not in ("synthesis", "warp"):
            raise ValueError(f"head must be 'synthesis' or 'warp', not {self.head!r}")
        if self.head == "warp" and self.driving_mode != "proxy":
            # the global motion and the reference choice read expression parameters from the pose
            # code, which only proxy-driven training supervises
            raise ValueError("the warp head needs driving_mode 'proxy'")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        for key in ("gen_channels", "disc_channels"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)


PRESETS: dict[str, ModelConfig] = {
    # The released architecture of Burkov et al. (2020): the authors' checkpoint loads into it.
    "lpr256": ModelConfig(),
    # The embedded default: proxy-driven, small enough for 15+ frames/s on a 2-core CPU, and
    # trainable on a CPU: plain ResNet encoders, because depthwise convolutions (MobileNetV2)
    # train about 50x slower there (backward through depthwise kernels is unoptimised on CPU);
    # the warp head draws with the character's own pixels, which a CPU can train.
    "toon": ModelConfig(
        resolution=128,
        identity_arch="resnet18", identity_width=0.5, identity_dim=256,
        pose_arch="resnet18", pose_width=0.25, pose_dim=128,
        gen_channels=(256, 256, 192, 96, 48, 24),
        gen_res_blocks=1, mlp_hidden=384,
        disc_channels=(32, 64, 128, 256, 256),
        driving_mode="proxy", head="warp", calibrated_pose=True,
    ),
    # Tests only: builds and runs in well under a second.
    "tiny": ModelConfig(
        resolution=32,
        identity_arch="resnet18", identity_width=0.125, identity_dim=32,
        pose_arch="resnet18", pose_width=0.125, pose_dim=16,
        gen_channels=(32, 32, 16, 8),
        gen_res_blocks=1, mlp_hidden=64,
        disc_channels=(8, 16, 32),
        driving_mode="proxy",
    ),
}
PRESETS["tiny-warp"] = replace(PRESETS["tiny"], head="warp", calibrated_pose=True)


def get_config(name: str, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)
