"""Shared fixtures: small real character bundles made by the export side from random weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
ADVENTURER = ASSETS / "sources" / "adventurer"


def _tiny_bundle(tmp: Path, driving_mode: str) -> Path:
    import torch

    from export.base_model import BaseModel, save_base
    from export.character import CharacterOptions, make_character
    from export.models import Discriminator, LatentPoseModel, get_config

    torch.manual_seed(0)
    cfg = get_config("tiny", driving_mode=driving_mode)
    base_path = save_base(BaseModel(LatentPoseModel(cfg).eval(), Discriminator(cfg), preset="tiny"),
                          tmp / f"tiny-{driving_mode}.safetensors")
    images = [ADVENTURER / "mina_0.png", ADVENTURER / "mina_2.png"]
    opts = CharacterOptions(name=f"tiny-{driving_mode}", iterations=0, precropped=True)
    return make_character(base_path, images, tmp / f"tiny-{driving_mode}.puppet", opts)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A proxy-mode `.puppet` of the `tiny` preset (32x32), feed-forward identity of two drawings."""
    return _tiny_bundle(tmp_path_factory.mktemp("bundles"), "proxy")


@pytest.fixture(scope="session")
def tiny_face_bundle(tmp_path_factory) -> Path:
    """The same in `face` driving mode."""
    return _tiny_bundle(tmp_path_factory.mktemp("bundles-face"), "face")
