"""Shared fixtures: small real base models and character bundles made by the export side."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
ADVENTURER = ASSETS / "sources" / "adventurer"
DRAWN = REPO / "tests" / "data" / "drawn"  # labelled drawings in three more styles
DEMO_CLIP = ASSETS / "driver" / "demo.mp4"


def make_tiny_base(path: Path, driving_mode: str, preset: str = "tiny") -> Path:
    """A `tiny` preset base model (32x32) with random weights, saved like any base model."""
    import torch

    from export.base_model import BaseModel, save_base
    from export.models import Discriminator, LatentPoseModel, get_config

    torch.manual_seed(0)
    cfg = get_config(preset, driving_mode=driving_mode)
    return save_base(BaseModel(LatentPoseModel(cfg).eval(), Discriminator(cfg), preset=preset), path)


def make_tiny_bundle(tmp: Path, driving_mode: str) -> Path:
    from export.character import CharacterOptions, make_character

    base = make_tiny_base(tmp / f"tiny-{driving_mode}.safetensors", driving_mode)
    images = [ADVENTURER / "mina_0.png", ADVENTURER / "mina_2.png"]
    opts = CharacterOptions(name=f"tiny-{driving_mode}", iterations=0, precropped=True)
    return make_character(base, images, tmp / f"tiny-{driving_mode}.puppet", opts)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A proxy-mode `tiny` base-model file."""
    return make_tiny_base(tmp_path_factory.mktemp("base") / "tiny.safetensors", "proxy")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A proxy-mode `.puppet` of the `tiny` preset (32x32), feed-forward identity of two drawings."""
    return make_tiny_bundle(tmp_path_factory.mktemp("bundles"), "proxy")


@pytest.fixture(scope="session")
def tiny_face_bundle(tmp_path_factory) -> Path:
    """The same in `face` driving mode."""
    return make_tiny_bundle(tmp_path_factory.mktemp("bundles-face"), "face")
