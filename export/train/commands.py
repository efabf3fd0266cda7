"""``puppet-export train`` and ``puppet-export eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .config import TrainConfig, add_dataclass_options, from_args, share


def cmd_train(args: argparse.Namespace) -> int:
    from .meta import train

    train(from_args(TrainConfig, args))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..base_model import load_base
    from ..models import Shares
    from .evaluate import EvalConfig, evaluate, format_report
    from .sheet_eval import SheetEvalConfig, format_sheet_report, sheet_evaluate

    base = load_base(args.base, with_discriminator=False)
    sheet = SheetEvalConfig(identities=args.identities, seed=args.seed, world=args.world,
                            shares=Shares(args.local_flow, args.residual), sources=args.sources,
                            draw_missing=args.draw_missing)
    report = {"base": str(args.base), "sheet": sheet_evaluate(base, sheet)}
    if base.model.warp is None:  # meta-training's own protocol: driven by itself, by the proxy, static
        report["frames"] = evaluate(base, EvalConfig(identities=args.identities, seed=args.seed))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n\n".join([str(args.base), format_sheet_report(report["sheet"])] +
                           ([format_report(report["frames"])] if "frames" in report else [])))
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    from .evaluate import character_follow, reference_follow, write_follow_sheet

    if args.sheet is not None:
        if not args.bundles:
            raise SystemExit("puppet-export follow: --sheet needs at least one character bundle")
        write_follow_sheet(args.bundles, args.sheet)
        print(f"wrote {args.sheet}")
    rows = [character_follow(path) for path in args.bundles]
    rows += [reference_follow(seed, args.resolution) for seed in args.reference]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'':32s} {'eyes':>6s} {'mouth':>6s} {'yaw px':>7s} {'pitch px':>8s} {'roll deg':>8s}")
    for r in rows:
        print(f"{r['name']:32s} {r['eyes_change']:6.3f} {r['mouth_change']:6.3f} {r['yaw_shift_px']:+7.1f} "
              f"{r['pitch_shift_px']:+8.1f} {r['roll_deg']:+8.0f}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="meta-train a base model (torchrun for several processes)")
    add_dataclass_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="quality report of a base model on held-out procedural identities")
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--identities", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world", default="classic", help="of the held-out identities: classic or styled")
    p.add_argument("--local-flow", type=share, default=1.0,
                   help="warp head: the share of the learnt local flow the characters use (as character's option)")
    p.add_argument("--residual", type=share, default=1.0,
                   help="warp head: the share of the learnt residual the characters use (as character's option)")
    p.add_argument("--sources", type=int, choices=range(1, 9), default=8, metavar="1-8",
                   help="the first N of the 8 sources each identity gets (1: the rest drawing alone)")
    p.add_argument("--draw-missing", action="store_true",
                   help="draw what those sources lack (shut eyes, winks, an open mouth) into the rest drawing, "
                        "as characters are made")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("follow", help="how much characters move with proxy drivers (eyes, mouth, yaw, pitch, roll)")
    p.add_argument("bundles", type=Path, nargs="*")
    p.add_argument("--reference", type=int, nargs="*", default=[], metavar="SEED",
                   help="also measure the true renders of these procedural identities (a perfect follower)")
    p.add_argument("--resolution", type=int, default=128, help="of the --reference renders")
    p.add_argument("--sheet", type=Path, help="also write a PNG: the proxy drivers, and each character's pictures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_follow)
