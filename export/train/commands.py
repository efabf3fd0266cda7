"""``puppet-export train`` and ``puppet-export eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .config import TrainConfig, add_dataclass_options, from_args


def cmd_train(args: argparse.Namespace) -> int:
    from .meta import train

    train(from_args(TrainConfig, args))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, evaluate, format_report

    report = evaluate(args.base, EvalConfig(identities=args.identities, seed=args.seed))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    from .evaluate import character_follow

    rows = [character_follow(path) for path in args.bundles]
    if args.json:
        print(json.dumps(rows, indent=2))
    for r in rows if not args.json else []:
        print(f"{Path(r['bundle']).name:28s} eyes {r['eyes_change']:.4f}  mouth {r['mouth_change']:.4f}  "
              f"yaw shift {r['yaw_shift_px']:+.1f} px  roll tilt {r['roll_tilt_deg']:+.1f} deg")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="meta-train a base model (torchrun for several processes)")
    add_dataclass_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="quality report of a base model on held-out procedural identities")
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--identities", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("follow", help="how much characters move with proxy drivers (eyes, mouth, yaw, roll)")
    p.add_argument("bundles", type=Path, nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_follow)
