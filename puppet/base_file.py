"""What the live side reads of a base-model file without torch: the metadata of its safetensors
header (``export/base_model.py`` writes it), e.g. which way its characters are driven."""

from __future__ import annotations

import json
import struct
from pathlib import Path

FORMAT = "puppet-base"  # the metadata's "format"
HEADER_LIMIT = 100_000_000  # safetensors' own bound on the header's size


def base_metadata(path: Path) -> dict[str, str]:
    """The metadata of a base-model file; a ValueError naming the file when it has none."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > HEADER_LIMIT:
                raise ValueError(f"a header of {size} bytes")
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError) as e:
        raise ValueError(f"{path}: not a readable base-model file ({e})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a puppet base model")
    return meta


def driving_mode(path: Path) -> str:
    """"face" or "proxy": what drives the characters made with this base (see the README)."""
    meta = base_metadata(path)
    try:
        return json.loads(meta["config"])["driving_mode"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: damaged base-model metadata (no driving mode)") from None
