"""Making a character: source images -> identity (feed-forward or fine-tuned) -> bundle.

A warp-head base draws the character with its own images: up to ``MAX_REFERENCES`` of them (the
ones that cover its expressions best), cropped at the output resolution, are frozen into the graph
with the expression each shows; the identity is the encoder's mean embedding. A synthesis-head
base is fine-tuned as in the method.

``make_character`` is the library function behind ``puppet-export character``. The bundle is
written atomically at the very end, so an error or an interrupt at any step leaves no file that
looks complete.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from puppet import params as P
from puppet.bundle import Manifest, write_bundle
from puppet.sources import MAX_SOURCES, CropRule, SourceSet, load_sources, read_image, recrop

from . import expression_variants
from .base_model import BaseModel, load_base
from .models import Shares
from .onnx_export import character_graph, check_parity, export_onnx, to_fp16, to_half_storage
from .train.finetune import FinetuneConfig, finetune
from .train.renders import proxy_render

log = logging.getLogger(__name__)

# float32 onnxruntime against PyTorch: other kernels and summation order, which the steep edge of
# the mask magnifies (measured up to 1.1e-4 on random pixels, 3e-5 on proxy renders), and a warp
# head's sharp references too: where a pixel is sampled moves by a ten-thousandth of a pixel, and
# across a dark line that changes its value by 1.3e-3 (2 of 590 000 values, a base trained longer
# than the shipped one). A wrong export is off by 1e-2 or more.
PARITY_TOLERANCE = 2e-3
# fp16-stored generator weights round each weight by up to 2**-11 of itself (the pose code, which
# the generator amplifies, keeps float32 weights); measured on toon characters: 7e-5 feed-forward,
# up to 1.45e-2 fine-tuned, on single pixels of the mask's edge.
COMPACT_TOLERANCE = 2e-2
THUMBNAIL_SIDE = 128
MAX_REFERENCES = 8  # warp head: the character's images it draws from
OUTPUT_RESOLUTION = 256  # warp head: the side it draws at, unless the sources are smaller


@dataclass(frozen=True)
class CharacterOptions:
    name: str
    iterations: int | None = None  # None: the default for the number of images; 0: feed-forward
    precropped: bool = False
    use_mask: bool = True
    use_dice: bool = True
    fp16: bool = True  # add the fp16 graph (fp16 arithmetic, for GPUs)
    compact: bool = False  # store character.onnx's weights as fp16 (float32 arithmetic); no fp16 graph
    train_part: str = "all"  # "all": the whole generator; "mlp": only its AdaIN MLP (keeps the base's motion)
    source_params: np.ndarray | None = None  # [N, NUM_PARAMS] expression of each source (proxy mode)
    output_resolution: int = OUTPUT_RESOLUTION  # warp head: never above the sources' own side
    # warp head: the share of the base's learnt local flow the character uses; None: none for a
    # base with calibrated references, all of it for one without (which needs it to undo its
    # read-out's bias). The flow refines the head's motion for heads like those it was trained on
    # (16 held-out procedural identities: masked L1 0.0286 -> 0.0234 with it); on drawings it smears:
    # Mina redraws her own drawings at up to 0.023 with it, 0.015 without, and her eyes smudge on turns.
    local_flow: float | None = None
    # warp head: the share of the base's learnt residual paint the character uses; None: none. With
    # a calibrated base it paints little but blur (grey smudges over Mina's cheek and forehead on
    # the demo clip); it lowers masked L1 on held-out procedural identities (0.0244 -> 0.0234) as
    # blur does, and makes a one-image character blink or talk no more (mouth follow 0.32 -> 0.34).
    residual: float | None = None
    # warp head: whether the head's depth falls to its outline linearly instead of as a sphere's
    # (``export.models.head_motion.head_motion_grid``); None: a sphere's for images framed as the
    # proxy's renders already (--precropped: the head where the proxy's is, as procedural
    # characters have it), the soft edge for images framed here (drawings).
    soft_edge: bool | None = None
    # warp head: what no image shows (shut eyes, winks, an open mouth) drawn into the image nearest
    # rest (export.expression_variants), so that the character blinks and talks
    draw_missing: bool = True


def thumbnail_png(rgb: np.ndarray, mask: np.ndarray) -> bytes:
    """PNG of one generator output (rgb [3,R,R], mask [1,R,R]) over a neutral grey."""
    img = np.clip(rgb, 0, 1) * mask + 0.5 * (1 - mask)
    img = (img.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # [3,R,R] -> [R,R,3]
    pil = Image.fromarray(img).resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def rest_driver(base: BaseModel, sources: SourceSet) -> np.ndarray:
    """float32 [1,3,R,R]: what drives the thumbnail (the base's proxy at rest, or the first source)."""
    if base.cfg.driving_mode == "proxy":
        return proxy_render(P.neutral(), base.cfg.resolution, base.proxy_seed)[None]
    return sources.images[:1]


def parity_drivers(base: BaseModel, sources: SourceSet) -> np.ndarray:
    """float32 [3,3,R,R]: inputs like those the character will be driven with, to check the
    exported graph on (the proxy at rest and at two random expressions, or source images)."""
    if base.cfg.driving_mode == "proxy":
        rng = np.random.default_rng(0)
        others = [proxy_render(P.sample(rng), base.cfg.resolution, base.proxy_seed) for _ in range(2)]
        return np.concatenate([rest_driver(base, sources), np.stack(others)])
    return sources.images[np.arange(3) % len(sources.images)]


def showing_drivers(base: BaseModel, images: np.ndarray, expressions: np.ndarray) -> np.ndarray:
    """float32 [R,3,H,W]: a driver showing each of a warp character's images [R,3,H,W] at the
    model's side, with its expression [R, NUM_PARAMS]: the base's proxy at that expression, or
    the image itself for a face-driven base. Where the choice of drawing places each image."""
    if base.cfg.driving_mode == "proxy":
        return np.stack([proxy_render(p, base.cfg.resolution, base.proxy_seed) for p in expressions])
    return images.astype(np.float32)


def covering_references(expressions: np.ndarray, limit: int = MAX_REFERENCES) -> list[int]:
    """Indices of at most ``limit`` images whose faces (eyes, brows, mouth) cover the expressions
    best: the one nearest rest first, then each time the one farthest from those chosen."""
    if len(expressions) <= limit:
        return list(range(len(expressions)))
    face = P.FACE_INDEX
    x = (expressions[:, face] - P.LOW[face]) / (P.HIGH[face] - P.LOW[face])  # each in [0, 1]
    rest = (P.REST[face] - P.LOW[face]) / (P.HIGH[face] - P.LOW[face])
    chosen = [int(np.argmin(np.abs(x - rest).sum(1)))]
    while len(chosen) < limit:
        gaps = np.min([np.abs(x - x[c]).sum(1) for c in chosen], axis=0)
        chosen.append(int(np.argmax(gaps)))
    return sorted(chosen)


def relative_pose(expressions: np.ndarray) -> np.ndarray:
    """The expressions with each image's head pose taken relative to the set's median: the
    character's rest pose is however it was drawn (a three-quarter view turns from there), and
    the driver's pose applies relative to it."""
    out = expressions.copy()
    for name in P.POSE_NAMES:
        i = P.INDEX[name]
        if name == "scale":  # a factor
            out[:, i] /= np.median(out[:, i])
        else:
            out[:, i] -= np.median(out[:, i])
    return P.clip(out)


def as_bytes(images: np.ndarray, masks: np.ndarray) -> torch.Tensor:
    """float [N,3,S,S] and [N,1,S,S] in [0,1] -> uint8 [N,4,S,S]."""
    return torch.from_numpy((np.concatenate([images, masks], 1) * 255 + 0.5).clip(0, 255).astype(np.uint8))


def warp_character(base: BaseModel, sources: SourceSet, opts: CharacterOptions) -> tuple[torch.nn.Module, int]:
    """The frozen graph of a warp-head character and the side it draws at."""
    from .train.finetune import mean_identity, source_expressions

    if opts.iterations:
        raise ValueError("a warp-head base draws a character from its images as they are: fine-tuning "
                         "iterations apply to synthesis-head bases (leave --iterations out, or give 0)")
    expressions = relative_pose(source_expressions(base, sources, opts.source_params))
    identity = mean_identity(base.model, sources)  # of the images given, not of what is drawn into them
    with tempfile.TemporaryDirectory() as folder:
        wanted = expression_variants.wanted(expressions) if opts.draw_missing else set()
        if wanted:
            sources, expressions = with_missing_drawn(sources, expressions, wanted, opts.precropped,
                                                      CropRule.for_driving(base.cfg.driving_mode), Path(folder))
        for missing in P.missing_expressions(expressions):
            log.warning("no image shows %s: add a drawing that does (or, if one does, give its expression "
                        "with --params)", missing)
        return _warp_graph(base, sources, expressions, identity, opts)


def with_missing_drawn(sources: SourceSet, expressions: np.ndarray, wanted: set[str], precropped: bool,
                       rule: CropRule, folder: Path) -> tuple[SourceSet, np.ndarray]:
    """The sources and their expressions with what no image shows (the presets ``wanted``: see
    :func:`~.expression_variants.wanted`) drawn into the image nearest rest
    (:mod:`~.expression_variants`), each drawing written to ``folder`` as a PNG with that image's
    transparency, and the set framed again with them."""
    room = MAX_SOURCES - len(sources.paths)
    if room <= 0:
        log.warning("%d images are the most a character takes, so nothing was drawn into them", MAX_SOURCES)
        return sources, expressions
    rest = covering_references(expressions, 1)[0]
    path = sources.paths[rest]
    rgb, alpha = read_image(path)
    over_white = expression_variants.over_white(rgb, alpha)
    try:
        drawn = expression_variants.variants(over_white, expressions[rest], wanted)[:room]
    except expression_variants.FeaturesNotFound as e:
        log.warning("%s: %s, so nothing could be drawn into it", path, e)
        return sources, expressions
    if not drawn:
        log.warning("%s: its eyes and mouth could not be told from the rest of the drawing, so nothing "
                    "could be drawn into it", path)
        return sources, expressions
    paths = []
    for variant in drawn:
        paths.append(folder / f"{path.stem} ({variant.preset}).png")
        # the image itself wherever nothing was drawn: not its colours over white where it is
        # transparent, which made every outline's soft edge differ between the drawings
        pixels = np.where((variant.rgb != over_white).any(-1, keepdims=True), variant.rgb, rgb)
        Image.fromarray(pixels if alpha is None else np.dstack([pixels, alpha])).save(paths[-1])
    log.warning("%s: drew into it what no image shows (%s); give drawings of these to have your own",
                path.name, ", ".join(v.preset for v in drawn))
    # framed afresh: each drawing's figure is its image's, so the set is framed as it was (and what
    # was said of the images is not said again of the drawings made from one of them)
    extended = load_sources([*sources.paths, *paths], sources.images.shape[-1], precropped=precropped, rule=rule,
                            warn=False)
    return extended, np.concatenate([expressions, np.stack([v.params for v in drawn])])


def _warp_graph(base: BaseModel, sources: SourceSet, expressions: np.ndarray, identity: torch.Tensor,
                opts: CharacterOptions) -> tuple[torch.nn.Module, int]:
    keep = covering_references(expressions)
    if len(keep) < len(sources.paths):
        log.info("drawing from %d of the %d images: %s", len(keep), len(sources.paths),
                 ", ".join(sources.paths[i].name for i in keep))
    side = min(opts.output_resolution, min(_image_side(sources.paths[i]) for i in keep))
    full = recrop(sources, keep, side)
    masks = full.masks if opts.use_mask else np.ones_like(full.masks)
    drivers = showing_drivers(base, sources.images[keep], expressions[keep])
    graph = character_graph(base.model, identity, as_bytes(full.images, masks), torch.from_numpy(expressions[keep]),
                            torch.from_numpy(drivers), _shares(base, opts), base.head_size_of(identity),
                            not opts.precropped if opts.soft_edge is None else opts.soft_edge)
    return graph, side


def _shares(base: BaseModel, opts: CharacterOptions) -> Shares:
    local_flow = opts.local_flow if opts.local_flow is not None else 0.0 if base.cfg.calibrated_pose else 1.0
    return Shares(local_flow, opts.residual or 0.0)


def _image_side(path: Path) -> int:
    with Image.open(path) as im:
        return min(im.size)


def make_character(base_path: Path, image_paths: list[Path], out_path: Path,
                   opts: CharacterOptions, preview: Path | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    base = load_base(base_path)
    res = base.cfg.resolution
    sources = load_sources(image_paths, res, precropped=opts.precropped,
                           rule=CropRule.for_driving(base.cfg.driving_mode))
    if not opts.use_mask:
        sources.masks[:] = 1.0
    if base.model.warp is not None:
        graph, side = warp_character(base, sources, opts)
    else:
        cfg = FinetuneConfig(iterations=opts.iterations, use_mask=opts.use_mask, use_dice=opts.use_dice,
                             train_part=opts.train_part)
        model, identity = finetune(base, sources, cfg, source_params=opts.source_params, preview=preview,
                                   progress=progress)
        graph, side = character_graph(model, identity), res
    graph_bytes = export_onnx(graph, res)
    drivers = parity_drivers(base, sources)
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
        rgb, mask = graph(torch.from_numpy(rest_driver(base, sources)))[:2]
    manifest = Manifest(
        name=opts.name, base_preset=base.preset, driver_resolution=res, output_resolution=side,
        driving_mode=base.cfg.driving_mode,
        pose_dim=base.cfg.pose_dim, num_source_images=len(sources.paths),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), proxy_seed=base.proxy_seed,
    )
    fp16 = opts.fp16 and not opts.compact and base.model.warp is None  # see to_fp16
    return write_bundle(out_path, manifest, graph_bytes, thumbnail_png(rgb[0].numpy(), mask[0].numpy()),
                        graph_fp16=to_fp16(graph_bytes) if fp16 else None)
