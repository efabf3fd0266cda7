"""Networks of latent pose reenactment, with presets (``lpr256``, ``toon``, ``tiny``)."""

from .config import PRESETS, ModelConfig, get_config
from .discriminator import Discriminator
from .generator import Generator
from .latent_pose import FrozenCharacter, FrozenWarpCharacter, LatentPoseModel, create_model
from .warp_head import Shares

__all__ = ["PRESETS", "Discriminator", "FrozenCharacter", "FrozenWarpCharacter", "Generator", "LatentPoseModel", "ModelConfig",
           "Shares", "create_model", "get_config"]
