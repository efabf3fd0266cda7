"""Networks of latent pose reenactment, with presets (``lpr256``, ``toon``, ``tiny``)."""

from .config import PRESETS, ModelConfig, get_config
from .discriminator import Discriminator
from .generator import Generator
from .latent_pose import FrozenCharacter, LatentPoseModel, create_model

__all__ = ["PRESETS", "ModelConfig", "get_config", "Discriminator", "Generator",
           "FrozenCharacter", "LatentPoseModel", "create_model"]
