"""Making a character: source images -> identity (feed-forward or fine-tuned) -> bundle.

``make_character`` is the library function behind ``puppet-export character``. The bundle is
written atomically at the very end, so an error or an interrupt at any step leaves no file that
looks complete.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from puppet.bundle import Manifest, write_bundle

from .base_model import BaseModel, load_base
from .onnx_export import character_graph, check_parity, export_onnx, to_fp16, to_half_storage
from .sources import SourceSet, load_sources
from .train.finetune import FinetuneConfig, finetune, proxy_render

log = logging.getLogger(__name__)

# float32 onnxruntime against PyTorch: other kernels and summation order, which the steep edge of
# the mask magnifies (measured up to 1.1e-4 on random pixels, 3e-5 on proxy renders); a wrong
# export is off by 1e-2 or more.
PARITY_TOLERANCE = 5e-4
# fp16-stored generator weights round each weight by up to 2**-11 of itself (the pose code, which
# the generator amplifies, keeps float32 weights); measured on toon characters: 7e-5 feed-forward,
# up to 1.45e-2 fine-tuned, on single pixels of the mask's edge.
COMPACT_TOLERANCE = 2e-2
THUMBNAIL_SIDE = 128


@dataclass(frozen=True)
class CharacterOptions:
    name: str
    iterations: int | None = None  # None: the default for the number of images; 0: feed-forward
    precropped: bool = False
    use_mask: bool = True
    use_dice: bool = True
    fp16: bool = True  # add the fp16 graph (fp16 arithmetic, for GPUs)
    compact: bool = False  # store character.onnx's weights as fp16 (float32 arithmetic); no fp16 graph
    proxy_seed: int = 0
    train_part: str = "all"  # "all": the whole generator; "mlp": only its AdaIN MLP (keeps the base's motion)
    source_params: np.ndarray | None = None  # [N, NUM_PARAMS] expression of each source (proxy mode)


def thumbnail_png(rgb: np.ndarray, mask: np.ndarray) -> bytes:
    """PNG of one generator output (rgb [3,R,R], mask [1,R,R]) over a neutral grey."""
    img = np.clip(rgb, 0, 1) * mask + 0.5 * (1 - mask)
    img = (img.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # [3,R,R] -> [R,R,3]
    pil = Image.fromarray(img).resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def rest_driver(base: BaseModel, sources: SourceSet, proxy_seed: int) -> np.ndarray:
    """float32 [1,3,R,R]: what drives the thumbnail (the proxy at rest, or the first source)."""
    if base.cfg.driving_mode == "proxy":
        from puppet.params import neutral

        return proxy_render(neutral(), base.cfg.resolution, proxy_seed)[None]
    return sources.images[:1]


def parity_drivers(base: BaseModel, sources: SourceSet, proxy_seed: int) -> np.ndarray:
    """float32 [3,3,R,R]: inputs like those the character will be driven with, to check the
    exported graph on (the proxy at rest and at two random expressions, or source images)."""
    if base.cfg.driving_mode == "proxy":
        from puppet.params import sample

        rng = np.random.default_rng(0)
        others = [proxy_render(sample(rng), base.cfg.resolution, proxy_seed) for _ in range(2)]
        return np.concatenate([rest_driver(base, sources, proxy_seed), np.stack(others)])
    return sources.images[np.arange(3) % len(sources.images)]


def make_character(base_path: Path, image_paths: list[Path], out_path: Path,
                   opts: CharacterOptions, preview: Path | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    base = load_base(base_path)
    res = base.cfg.resolution
    sources = load_sources(image_paths, res, precropped=opts.precropped)
    if not opts.use_mask:
        sources.masks[:] = 1.0
    cfg = FinetuneConfig(iterations=opts.iterations, use_mask=opts.use_mask, use_dice=opts.use_dice,
                         proxy_seed=opts.proxy_seed, train_part=opts.train_part)
    model, identity = finetune(base, sources, cfg, source_params=opts.source_params, preview=preview,
                               progress=progress)
    graph = character_graph(model, identity)
    graph_bytes = export_onnx(graph, res)
    drivers = parity_drivers(base, sources, opts.proxy_seed)
    parity = check_parity(graph, graph_bytes, res, tolerance=PARITY_TOLERANCE, drivers=drivers)
    if not parity.ok:
        raise RuntimeError(f"exported graph differs from PyTorch by {parity.max_rel_error:.2e} "
                           f"(tolerance {PARITY_TOLERANCE:.0e}); not writing {out_path}")
    if opts.compact:
        # A compact graph that strays keeps the float32 one: the fine-tuning is never thrown away.
        compact = to_half_storage(graph_bytes)
        parity = check_parity(graph, compact, res, tolerance=COMPACT_TOLERANCE, drivers=drivers)
        if parity.ok:
            graph_bytes = compact
        else:
            log.warning("%s: fp16-stored weights change the output by %.1e (tolerance %.0e); "
                        "writing float32 weights instead", out_path, parity.max_rel_error, COMPACT_TOLERANCE)
    with torch.no_grad():
        rgb, mask, _ = graph(torch.from_numpy(rest_driver(base, sources, opts.proxy_seed)))
    manifest = Manifest(
        name=opts.name, base_preset=base.preset, resolution=res, driving_mode=base.cfg.driving_mode,
        pose_dim=base.cfg.pose_dim, num_source_images=len(sources.paths),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), proxy_seed=opts.proxy_seed,
    )
    return write_bundle(out_path, manifest, graph_bytes, thumbnail_png(rgb[0].numpy(), mask[0].numpy()),
                        graph_fp16=to_fp16(graph_bytes) if opts.fp16 and not opts.compact else None)
