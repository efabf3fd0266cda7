"""``puppet-export``: the offline side's command line.

Commands: ``convert-lpr`` (import the authors' checkpoint), ``character`` (make a character
bundle from images), ``expressions`` (what fine-tuning will take each source image's expression
to be), ``bench`` (graph speed per preset), ``tensorrt`` (an engine ahead of time, where
TensorRT is installed), ``heads-sheet`` (a contact sheet of the procedural heads), ``train`` and
``eval`` (meta-training a base model and its quality report), ``train-reader`` and
``eval-expressions`` (the expression reader of source images, and how well drawings are read).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from puppet.assets import DEFAULT_BASE
from puppet.bundle import BundleError
from puppet.expression_reader import DEFAULT_READER
from puppet.sources import SourceError

from .base_model import BaseModelError, save_base
from .train.config import share


def cmd_convert_lpr(args: argparse.Namespace) -> int:
    from .lpr_checkpoint import load_released

    base, identity = load_released(args.checkpoint)
    save_base(base, args.output, half=args.half)
    note = " (it also held a fine-tuned identity, not kept: make characters with `character`)" \
        if identity is not None else ""
    print(f"wrote {args.output}: preset lpr256, driving mode face, {base.info['weights']} weights{note}")
    return 0


def cmd_fit_head_size(args: argparse.Namespace) -> int:
    from .base_model import load_base
    from .train.head_size import HeadSizeConfig, fit_head_size

    base = load_base(args.base)
    base.head_sizer, report = fit_head_size(base, HeadSizeConfig(identities=args.identities))
    base.info["head_sizer"] = report
    save_base(base, args.output, half=not args.fp32)
    print(f"wrote {args.output}: head size read-out fitted on {report['identities']} procedural identities; "
          f"on {report['scored']} left out of a first fit: R^2 {report['r2']:.2f}, mean error {report['mae']:.4f} "
          f"(always the mean: {report['mae_of_mean']:.4f})")
    return 0


def cmd_pack_base(args: argparse.Namespace) -> int:
    from .base_model import average_bases, load_base

    bases = [load_base(path, with_discriminator=not args.no_discriminator) for path in args.base]
    base = average_bases(bases, [str(path) for path in args.base]) if len(bases) > 1 else bases[0]
    if args.note:
        base.info["note"] = args.note
    save_base(base, args.output, half=not args.fp32)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)")
    return 0


def _read_params(path: Path | None, count: int):
    """Per-image expression values from the JSON file ``path`` (see
    :func:`puppet.params.parse_expressions`); a row of NaN stands for null (not given, estimate it)."""
    if path is None:
        return None
    from puppet.params import parse_expressions

    try:
        values, _ = parse_expressions(path.read_text(), count)  # a doubted reading is still a given value
    except (OSError, ValueError) as e:
        raise SourceError(f"{path}: cannot read expression values: {e}") from None
    return values


def _progress_printer(mode: str):
    """``json``: one object per line on stdout, for programs (the GUI); ``text``: a bar on stderr."""
    def json_lines(step: int, total: int) -> None:
        print(json.dumps({"step": step, "total": total}), flush=True)

    def text_bar(step: int, total: int) -> None:
        filled = int(30 * step / max(total, 1))
        end = "\n" if step >= total else ""
        print(f"\rfine-tuning [{'#' * filled}{'.' * (30 - filled)}] {step}/{total}", end=end,
              file=sys.stderr, flush=True)

    return json_lines if mode == "json" else text_bar


def cmd_character(args: argparse.Namespace) -> int:
    from .character import OUTPUT_RESOLUTION, CharacterOptions, make_character

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)

    opts = CharacterOptions(
        name=args.name or args.output.stem, iterations=args.iterations, precropped=args.precropped,
        use_mask=not args.no_mask, use_dice=not (args.no_dice or args.no_mask), fp16=not args.no_fp16,
        compact=args.compact, train_part=args.train, source_params=_read_params(args.params, len(args.images)),
        output_resolution=args.output_resolution or OUTPUT_RESOLUTION, local_flow=args.local_flow,
        residual=args.residual, soft_edge=None if args.head_edge is None else args.head_edge == "soft",
        draw_missing=not args.no_draw_missing,
    )
    path = make_character(args.base, args.images, args.output, opts, preview=args.preview,
                          progress=_progress_printer(args.progress))
    print(json.dumps({"done": str(path)}) if args.progress == "json" else f"wrote {path}")
    return 0


def cmd_expressions(args: argparse.Namespace) -> int:
    """Each image's expression as ``--params`` reads it, for a person to check and correct."""
    from puppet.params import as_dict
    from puppet.sources import CropRule, load_sources

    from .base_model import load_base
    from .train.finetune import read_source_expressions

    base = load_base(args.base, with_discriminator=False)
    sources = load_sources(args.images, base.cfg.resolution, precropped=args.precropped,
                           rule=CropRule.for_driving(base.cfg.driving_mode))
    reading = read_source_expressions(base, sources, None)
    rows = [{k: round(v, 3) for k, v in as_dict(p).items()} | ({"uncertain": True} if doubt else {})
            for p, doubt in zip(reading.values, reading.uncertain)]
    text = "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


def cmd_eval_expressions(args: argparse.Namespace) -> int:
    """Per-style state accuracy and mean absolute errors of how source images are read."""
    from .base_model import load_base
    from .expression_eval import TABLE_HEAD, base_reader, dedicated_reader, evaluate, rest_reader

    base = load_base(args.base, with_discriminator=False)
    readers = {}
    if args.reader.is_file():
        readers["expression reader"] = dedicated_reader(args.reader, base.cfg.resolution, base.cfg.driving_mode)
    readers |= {"base read-out": base_reader(base), "rest (trivial answer)": rest_reader}
    report = {}
    for label, reader in readers.items():
        scores = evaluate(reader, args.folders, seed=args.seed, only=tuple(args.only))
        report[label] = [vars(s) for s in scores]
        if not args.json:
            print(f"{label}\n{TABLE_HEAD}\n" + "\n".join(s.row() for s in scores) + "\n")
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    """Train the dedicated expression reader on styled procedural heads (and labelled drawings) and
    export it to ONNX."""
    from .reader.train import ReaderTrainConfig, export_onnx, labelled_sets, train_reader

    logging.getLogger("export.reader").setLevel(logging.INFO)  # its progress lines, without -v
    cfg = ReaderTrainConfig(sets=args.sets, minutes=args.minutes, threads=args.threads, seed=args.seed, lr=args.lr)
    labelled = labelled_sets(args.labelled, tuple(args.leave_out))
    export_onnx(train_reader(args.work, cfg, labelled, args.init), args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import BenchConfig, run_bench

    rows = run_bench(BenchConfig(presets=tuple(args.presets), batch=args.batch, seconds=args.seconds,
                                 threads=args.threads))
    if args.json:
        print(json.dumps({"graph_ms": rows}))
    else:
        for r in rows:
            print(f"{r['preset']:8s} {r['runtime']:32s} {r['device']:5s} batch {r['batch']:3d} "
                  f"{r['ms_per_frame']:9.3f} ms/frame")
    return 0


def cmd_heads_sheet(args: argparse.Namespace) -> int:
    from puppet.heads.sheet import write_sheet

    write_sheet(args.output, identities=range(args.first_seed, args.first_seed + args.rows), size=args.size)
    print(f"wrote {args.output}")
    return 0


def cmd_tensorrt(args: argparse.Namespace) -> int:
    from .tensorrt_build import EngineConfig, TensorRTUnavailable, build_engine

    out = args.output or args.bundle.with_suffix(".plan")
    try:
        build_engine(args.bundle, out, EngineConfig(fp16=not args.fp32, max_batch=args.max_batch))
    except TensorRTUnavailable as e:
        print(f"puppet-export tensorrt: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def cmd_render_heads(args: argparse.Namespace) -> int:
    """Source images of a procedural character: RGBA PNGs (alpha = mask) and their expressions."""
    import numpy as np
    from PIL import Image

    from puppet.heads import Identity, render_head
    from puppet.heads.sheet import COLUMNS
    from puppet.params import as_dict, make

    ident = Identity.from_seed(args.seed)
    args.output.mkdir(parents=True, exist_ok=True)
    # Expressions and turns; nods, rolls and offsets are also taught by warps during fine-tuning.
    values = [make(**v) for _, v in COLUMNS if "pitch" not in v and "roll" not in v]
    values = values[:args.count]
    for i, p in enumerate(values):
        head = render_head(ident, p, args.size)
        alpha = (head.mask * 255 + 0.5).astype(np.uint8)
        Image.fromarray(np.dstack([head.rgb, alpha])).save(args.output / f"head{args.seed}_{i}.png")
    (args.output / f"head{args.seed}.params.json").write_text(json.dumps([as_dict(p) for p in values], indent=1))
    print(f"wrote {len(values)} images of identity {args.seed} to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="puppet-export", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert-lpr", help="import the authors' latent-pose-release.pth as a base model")
    c.add_argument("checkpoint", type=Path)
    c.add_argument("-o", "--output", type=Path, required=True, help="base-model file (.safetensors)")
    c.add_argument("--half", action="store_true", help="store weights in fp16 (half the size)")
    c.set_defaults(func=cmd_convert_lpr)

    c = sub.add_parser("pack-base", help="copy a base model for shipping: fp16 weights, optional parts")
    c.add_argument("base", type=Path, nargs="+",
                   help="base-model file; several (checkpoints of one run) are averaged weight by weight")
    c.add_argument("-o", "--output", type=Path, required=True)
    c.add_argument("--fp32", action="store_true", help="keep float32 weights")
    c.add_argument("--no-discriminator", action="store_true",
                   help="drop the discriminator (fine-tuning then starts a fresh one)")
    c.add_argument("--note", help="a line of provenance stored in the file")
    c.set_defaults(func=cmd_pack_base)

    c = sub.add_parser("fit-head-size", help="fit a base model's head-size read-out (identity code -> head size, "
                                             "for the parallax of turns) on procedural identities")
    c.add_argument("base", type=Path)
    c.add_argument("-o", "--output", type=Path, required=True)
    c.add_argument("--identities", type=int, default=400, help="per world (classic and styled)")
    c.add_argument("--fp32", action="store_true", help="keep float32 weights (default: fp16, as pack-base)")
    c.set_defaults(func=cmd_fit_head_size)

    c = sub.add_parser("character", help="make a character bundle from 1 to 16 images")
    c.add_argument("images", type=Path, nargs="*")
    c.add_argument("-o", "--output", type=Path, required=True, help="NAME.puppet")
    c.add_argument("--base", type=Path, default=DEFAULT_BASE, help="base-model file (default: the embedded one)")
    c.add_argument("--name", help="display name (default: the output file's name)")
    c.add_argument("--iterations", type=int, default=None,
                   help="fine-tuning steps; 0 = feed-forward identity; default depends on the number of images")
    c.add_argument("--precropped", action="store_true", help="images are face crops already")
    c.add_argument("--no-mask", action="store_true", help="no mask composition (for unreliable masks)")
    c.add_argument("--no-dice", action="store_true", help="no dice loss on the mask")
    c.add_argument("--train", choices=["all", "mlp"], default="all",
                   help="what fine-tuning changes: the whole generator, or only its AdaIN MLP "
                        "(keeps more of the base model's motion, less of the character's detail)")
    c.add_argument("--params", type=Path, help="JSON list with each image's expression values (proxy mode; "
                   "null for an image: estimate it, as the expressions command does)")
    c.add_argument("--preview", type=Path, help="write crops, masks and reconstructions to this PNG")
    c.add_argument("--output-resolution", type=int, choices=[256, 512],
                   help="warp-head bases: the side the character draws at, never above its images' own "
                        "(default 256)")
    c.add_argument("--local-flow", type=share, default=None,
                   help="warp-head bases: the share (0-1) of the base's learnt local motion the character "
                        "uses; 0 keeps only the head's global motion, sharper on drawings (default: 0, or 1 "
                        "for a base trained without calibrated references)")
    c.add_argument("--residual", type=share, default=None,
                   help="warp-head bases: the share (0-1) of the base's learnt residual paint the character "
                        "uses; 0 draws every pixel from its images (default: 0)")
    c.add_argument("--head-edge", choices=["sphere", "soft"],
                   help="warp-head bases: how the head's depth falls to its outline on turns: as a sphere's "
                        "(heads shaped and placed as the proxy's) or linearly (drawings: no feature torn "
                        "where the outline crosses it); default: sphere with --precropped, else soft")
    c.add_argument("--no-draw-missing", action="store_true",
                   help="warp-head bases: do not draw what no image shows (shut eyes, winks, an open mouth) "
                        "into the image nearest rest; without them the character does not blink or talk")
    c.add_argument("--no-fp16", action="store_true", help="do not add the fp16 graph")
    c.add_argument("--compact", action="store_true",
                   help="store the graph's weights as fp16 (float32 arithmetic, half the file), no fp16 graph")
    c.add_argument("--threads", type=int, default=0,
                   help="torch threads (0: default; 1 is often fastest on a busy CPU)")
    c.add_argument("--progress", choices=["text", "json"], default="text",
                   help="json: one {\"step\", \"total\"} object per line on stdout, for other programs")
    c.set_defaults(func=cmd_character)

    c = sub.add_parser("expressions", help="each image's expression (the expression reader, the base model's "
                       "read-out, else face tracking) as the JSON that character --params reads; "
                       "\"uncertain\": true marks a doubtful reading")
    c.add_argument("images", type=Path, nargs="+")
    c.add_argument("--base", type=Path, default=DEFAULT_BASE, help="base-model file (default: the embedded one)")
    c.add_argument("--precropped", action="store_true", help="images are face crops already")
    c.add_argument("-o", "--output", type=Path, help="JSON file (default: standard output)")
    c.set_defaults(func=cmd_expressions)

    c = sub.add_parser("eval-expressions", help="how well source images' expressions are read, per drawing "
                       "style, against labelled drawings (folders of NAME_i.png and NAME.params.json)")
    c.add_argument("folders", type=Path, nargs="+", help="one folder per drawing style")
    c.add_argument("--base", type=Path, default=DEFAULT_BASE, help="base-model file (default: the embedded one)")
    c.add_argument("--reader", type=Path, default=DEFAULT_READER,
                   help="expression reader (ONNX; default: the shipped one, its row left out where absent)")
    c.add_argument("--seed", type=int, default=0, help="seed of the order each character's images are read in")
    c.add_argument("--only", nargs="+", default=[], metavar="NAME", help="score only these characters")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_eval_expressions)

    c = sub.add_parser("train-reader",
                       help="train the expression reader on styled procedural heads and labelled drawings (ONNX)")
    c.add_argument("-o", "--output", type=Path, default=DEFAULT_READER, help="ONNX file (default: the shipped one)")
    c.add_argument("--work", type=Path, required=True, help="folder for the rendered sets and checkpoints")
    c.add_argument("--sets", type=int, default=2000, help="training identities (8 expressions each)")
    c.add_argument("--labelled", type=Path, nargs="+", default=[],
                   help="style folders of labelled drawings (as eval-expressions reads them) to mix in")
    c.add_argument("--leave-out", nargs="+", default=[], metavar="NAME",
                   help="labelled characters not to train on (to measure the reader on)")
    c.add_argument("--init", type=Path, help="start from this run's reader.pt weights")
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--minutes", type=float, default=18.0, help="wall-clock training budget")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=cmd_train_reader)

    c = sub.add_parser("bench", help="ms/frame of the character graph per preset")
    c.add_argument("--presets", nargs="+", default=["toon", "lpr256"])
    c.add_argument("--batch", type=int, default=1)
    c.add_argument("--seconds", type=float, default=3.0)
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_bench)

    c = sub.add_parser("tensorrt", help="build a TensorRT engine for a character (needs TensorRT)")
    c.add_argument("bundle", type=Path)
    c.add_argument("-o", "--output", type=Path, help="engine file (default: next to the bundle, .plan)")
    c.add_argument("--fp32", action="store_true", help="no fp16 kernels")
    c.add_argument("--max-batch", type=int, default=1)
    c.set_defaults(func=cmd_tensorrt)

    c = sub.add_parser("render-heads", help="source images (RGBA) and expressions of one procedural identity")
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--count", type=int, default=8)
    c.add_argument("--size", type=int, default=256)
    c.add_argument("-o", "--output", type=Path, required=True)
    c.set_defaults(func=cmd_render_heads)

    c = sub.add_parser("heads-sheet", help="contact sheet of procedural heads")
    c.add_argument("-o", "--output", type=Path, required=True)
    c.add_argument("--rows", type=int, default=8)
    c.add_argument("--first-seed", type=int, default=0)
    c.add_argument("--size", type=int, default=128)
    c.set_defaults(func=cmd_heads_sheet)

    from .train.commands import add_commands
    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "images", None) == []:
        print("puppet-export character: no source images given", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (BaseModelError, SourceError, BundleError, FileNotFoundError) as e:
        print(f"puppet-export: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("puppet-export: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
