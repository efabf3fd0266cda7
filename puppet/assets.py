"""Where the shipped assets live: the base model, the demo driver clip and the demo characters.

Every other module asks here, so the layout of ``assets/`` is written down once. Assets are
found relative to the repository root (the parent of the ``puppet`` package), never downloaded.
"""

from __future__ import annotations

from pathlib import Path

import puppet

ASSETS_DIR = Path(puppet.__file__).resolve().parent.parent / "assets"
DEMO_CLIP = ASSETS_DIR / "driver" / "demo.mp4"
DEMO_CHARACTERS_DIR = ASSETS_DIR / "characters"
# The embedded base model: what new characters are fine-tuned from unless another base is named.
DEFAULT_BASE = ASSETS_DIR / "base" / "toon.safetensors"


class AssetError(FileNotFoundError):
    """A shipped asset is missing; the message names the path that was expected."""


def demo_clip() -> Path:
    """The demo driver video (640x360, about 20 s)."""
    if not DEMO_CLIP.is_file():
        raise AssetError(f"{DEMO_CLIP}: demo driver clip is missing (is the checkout complete?)")
    return DEMO_CLIP


def demo_characters() -> list[Path]:
    """The shipped ``.puppet`` characters, sorted by file name (may be empty)."""
    if not DEMO_CHARACTERS_DIR.is_dir():
        return []
    return sorted(DEMO_CHARACTERS_DIR.glob("*.puppet"))


def first_demo_character() -> Path:
    chars = demo_characters()
    if not chars:
        raise AssetError(f"{DEMO_CHARACTERS_DIR}: no demo characters (*.puppet) found")
    return chars[0]
