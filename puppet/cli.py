"""The ``puppet`` command.

    puppet                                   open the GUI
    puppet render --character C --driver VIDEO|CAMERA_INDEX -o OUT.mp4|OUT.gif
                  [--side-by-side] [--background COLOR|IMAGE|none] [--frames N] [--size PX]
                  [--mirror] [--camera-size WxH] [--camera-fps F]
                  [--device auto|tensorrt|cuda|cpu] [--virtual-camera]
    puppet characters                        list demo and user characters (broken ones: why)
    puppet characters import FILE.puppet     validate and copy a bundle into the user library
    puppet bench [--json] [--character C] [--driver VIDEO] [--frames N] [--soak N]

A video file is rendered frame by frame in order (every frame, as fast as the machine goes);
a camera index runs live until ``--frames`` or Ctrl-C. Bad input gives one line on stderr
naming the file or device and what is wrong, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger("puppet")

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


class CliError(Exception):
    """A one-line message for the user."""


def _progress_printer(total: int | None, quiet: bool = False, stream=sys.stderr) -> Callable[[int, bool], None]:
    """A text progress line on stderr, redrawn at most four times a second."""
    started = time.monotonic()
    last = [0.0]

    def show(done: int, final: bool = False) -> None:
        now = time.monotonic()
        if quiet or (not final and now - last[0] < 0.25):
            return
        last[0] = now
        fps = done / (now - started) if now > started else 0.0
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        else:
            bar = f"{done} frames"
        stream.write(f"\rrender {bar} {fps:5.1f} fps")
        if final:
            stream.write("\n")
        stream.flush()

    return show


def _camera_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--camera-size {text!r}: write it as WIDTHxHEIGHT, e.g. 640x480") from None
    return width, height


def cmd_render(args: argparse.Namespace) -> int:
    from puppet.capture import CameraConfig, open_source
    from puppet.compose import ComposeConfig, parse_background
    from puppet.engine import Engine, EngineConfig
    from puppet.library import resolve_character
    from puppet.pipeline import Mode, Pipeline, PipelineConfig
    from puppet.recording import RecordingConfig, check_output_path
    from puppet.virtual_camera import VirtualCamera, VirtualCameraError, require_pyvirtualcam

    if args.output is None and not args.virtual_camera:
        raise CliError("render: give -o OUT.mp4|OUT.gif (or --virtual-camera)")
    background = parse_background(args.background)
    if args.output is not None:
        out = check_output_path(args.output)
        if out.suffix.lower() == ".mp4" and background.has_alpha:
            raise CliError(f"{out}: MP4 has no transparency; use --background COLOR or write a .gif")
    if args.frames is not None and args.frames < 1:
        raise CliError(f"--frames must be at least 1, not {args.frames}")
    if args.virtual_camera:
        require_pyvirtualcam()  # before the slow part
    engine = Engine.load(resolve_character(args.character), EngineConfig(device=args.device))
    _tell_fallback(engine, args.verbose)
    camera = str(args.driver).strip().isdigit()
    width, height = _camera_size(args.camera_size)
    source = open_source(args.driver, CameraConfig(width=width, height=height, fps=args.camera_fps))
    mode = Mode.LIVE if camera else Mode.OFFLINE
    config = PipelineConfig(mode=mode, mirror=args.mirror, max_frames=args.frames,
                            compose=ComposeConfig(background=background, size=args.size,
                                                  side_by_side=args.side_by_side))
    known = getattr(source, "frame_count", 0)  # files know their length, cameras do not
    # --verbose logs a timing line every 2 s instead of redrawing a progress bar.
    show = _progress_printer(min(filter(None, (args.frames, known)), default=None), quiet=args.verbose)
    virtual = VirtualCamera(source.fps) if args.virtual_camera else None
    failures: list[str] = []
    abort = threading.Event()  # set by Ctrl-C or a failing virtual camera
    done = [0]

    def on_frame(result) -> None:
        if virtual is not None and not abort.is_set():
            try:
                virtual.send(result.image)
            except VirtualCameraError as e:
                failures.append(str(e))
                abort.set()
        done[0] += 1
        show(done[0])

    pipe = Pipeline(engine, source, config, on_frame=on_frame)
    if args.output is not None:
        pipe.start_recording(args.output, RecordingConfig(fps=source.fps))
    previous = signal.signal(signal.SIGINT, lambda *_: abort.set())
    try:
        pipe.start()
        next_log = time.monotonic() + 2.0
        while pipe.running and not abort.is_set():
            time.sleep(0.05)
            if time.monotonic() >= next_log:  # with --verbose: per-stage timings every 2 s
                log.info("%s", pipe.stats().line())
                next_log += 2.0
        summary = pipe.stop() if abort.is_set() else pipe.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        if virtual is not None:
            virtual.close()
    show(done[0], final=True)
    return _report(summary, args.driver, failures[0] if failures else None, abort.is_set())


def _tell_fallback(engine, verbose: bool) -> None:
    """Why the character runs on the CPU, when a GPU was asked for: with --verbose in the log,
    beside the timings; else as one line of its own (the log is silent then)."""
    if engine.notice is None:
        return
    if verbose:
        log.warning("%s: %s", engine.bundle.path, engine.notice)
    else:
        print(f"puppet: {engine.notice}", file=sys.stderr)


def _report(summary, driver: str, failure: str | None, aborted: bool) -> int:
    """What a render wrote and how it ended, on stderr; the exit code."""
    rec = summary.recording
    if rec is not None:
        print(f"wrote {rec.path}: {rec.frames} frames, {rec.duration_s:.2f} s"
              + (f", {rec.dropped} dropped" if rec.dropped else ""), file=sys.stderr)
    if summary.errors:
        print(f"puppet: per-frame errors: {summary.errors}", file=sys.stderr)
    error = summary.error or (rec.error if rec is not None else None) or failure
    if error:
        print(f"puppet: error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if summary.frames_out == 0:
        print(f"puppet: error: {driver}: no frame came through", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_INTERRUPTED if aborted else 0


def cmd_characters(args: argparse.Namespace) -> int:
    from puppet.library import import_character, list_characters, user_characters_dir

    if args.action == "import":
        entry = import_character(args.file, overwrite=args.force)
        print(f"imported {entry.name} -> {entry.path}")
        return 0
    entries = list_characters()
    if not entries:
        print(f"no characters (the user library is {user_characters_dir()})")
    for e in entries:
        print(f"{e.name:24s} {e.origin:5s} {e.path}" + (f"  BROKEN: {e.problem}" if e.problem else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from puppet.bench import BenchConfig, run_bench, run_soak

    config = BenchConfig(character=args.character, driver=args.driver, frames=args.frames,
                         device=args.device)
    if args.soak:
        report = run_soak(config, args.soak)
        ok = report["rss_growth_mb"] <= report["rss_limit_mb"] and report["error"] is None
    else:
        report = run_bench(config)
        ok = report.get("error") is None
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:24s} {value}")
    return 0 if ok else EXIT_RUN_FAILED


def cmd_gui(argv: Sequence[str]) -> int:
    import importlib

    try:
        gui = importlib.import_module("puppet.gui")  # Qt is loaded only for the GUI
    except ImportError as e:
        raise CliError(f"the GUI cannot start ({e})") from None
    return gui.run(list(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="puppet", description="Drive a drawn character with your face.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens inside")
    sub = parser.add_subparsers(dest="command")

    r = sub.add_parser("render", help="turn a video or a camera into an MP4 or GIF")
    r.add_argument("--character", "-c", required=True, help="library name or path to a .puppet")
    r.add_argument("--driver", "-d", required=True, help="video file, or camera index (0, 1, ...)")
    r.add_argument("-o", "--output", help="OUT.mp4 or OUT.gif")
    r.add_argument("--side-by-side", action="store_true", help="put the driver frame beside the character")
    r.add_argument("--background", default="green", help="colour name, #rrggbb, r,g,b, image path, or none")
    r.add_argument("--frames", type=int, help="stop after this many frames")
    r.add_argument("--size", type=int, default=None,
                   help="side of the character picture in pixels (default: the side the character draws at)")
    r.add_argument("--mirror", action="store_true", help="mirror the driver (selfie view)")
    r.add_argument("--camera-size", default="640x480", help="camera resolution to ask for, WIDTHxHEIGHT")
    r.add_argument("--camera-fps", type=float, default=30.0, help="camera frame rate to ask for")
    r.add_argument("--device", choices=("auto", "tensorrt", "cuda", "cpu"), default="auto")
    r.add_argument("--virtual-camera", action="store_true", help="also send frames to a virtual camera")
    r.set_defaults(run=cmd_render)

    c = sub.add_parser("characters", help="list or import characters")
    c.set_defaults(run=cmd_characters, action="list")
    actions = c.add_subparsers(dest="action")
    actions.add_parser("list", help="list demo and user characters")
    imp = actions.add_parser("import", help="validate a .puppet and copy it into the user library")
    imp.add_argument("file", help="the .puppet file to import")
    imp.add_argument("--force", action="store_true", help="replace a library character of the same name")

    b = sub.add_parser("bench", help="measure the live path (per-stage ms, fps, latency)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--character", "-c", help="library name or .puppet (default: first demo character)")
    b.add_argument("--driver", "-d", help="video file (default: the demo clip)")
    b.add_argument("--frames", type=int, default=200, help="frames per measured run")
    b.add_argument("--soak", type=int, metavar="N", help="run N frames and check resident memory")
    b.add_argument("--device", choices=("auto", "tensorrt", "cuda", "cpu"), default="auto")
    b.set_defaults(run=cmd_bench)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    from puppet.assets import AssetError
    from puppet.bundle import BundleError
    from puppet.capture import CaptureError
    from puppet.compose import BackgroundError
    from puppet.engine import EngineError
    from puppet.library import LibraryError
    from puppet.pipeline import PipelineError
    from puppet.recording import RecordingError
    from puppet.virtual_camera import VirtualCameraError

    return (CliError, AssetError, BundleError, CaptureError, BackgroundError, EngineError, LibraryError,
            PipelineError, RecordingError, VirtualCameraError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv:
            return cmd_gui(argv)
        args = build_parser().parse_args(argv)
        # Failures reach the user as one line from here; the log is for --verbose.
        logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                            format="puppet: %(levelname)s: %(message)s")
        if args.command is None:
            return cmd_gui([])
        return args.run(args)
    except _known_errors() as e:
        print(f"puppet: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
