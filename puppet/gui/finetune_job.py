"""Fine-tuning a new character in the background: one ``puppet-export character`` process per job.

A job owns the new character's working folder (``puppet-new-*`` in the temp directory: copies of
the source images and the expressions chosen for them) for as long as its process runs; finished,
failed and cancelled jobs remove it. The process runs at a lower OS priority, so the live view
keeps its frame rate, and reports progress as JSON lines (``--progress json``: ``{"step",
"total"}`` per step, ``{"done": path}`` at the end), from which the job estimates the time left.
The bundle is written atomically, so a cancelled job leaves no character behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from puppet.assets import DEFAULT_BASE

NICENESS = 10  # POSIX priority offset of the fine-tuning process
STARTING, RUNNING, DONE, FAILED, CANCELLED = "starting", "running", "done", "failed", "cancelled"


@dataclass(frozen=True)
class NewCharacterConfig:
    base: Path = DEFAULT_BASE
    iterations: int | None = None  # None: the fine-tuning command's default


def character_command(config: NewCharacterConfig, images: list[Path], out: Path, params_file: Path) -> list[str]:
    cmd = [sys.executable, "-m", "export.cli", "character", "--base", str(config.base), *map(str, images),
           "-o", str(out), "--params", str(params_file), "--progress", "json"]
    return cmd if config.iterations is None else cmd + ["--iterations", str(config.iterations)]


def at_low_priority(argv: list[str]) -> list[str]:
    """``argv`` run under ``nice`` where there is one (POSIX). Windows has none: the process runs
    at normal priority there."""
    nice = shutil.which("nice") if os.name == "posix" else None
    return [nice, "-n", str(NICENESS), *argv] if nice else argv


def seconds_left(first: tuple[float, int], last: tuple[float, int], total: int) -> float | None:
    """Time left at the rate between two (time, step) progress reports; None before a rate is known."""
    (t0, s0), (t1, s1) = first, last
    if s1 <= s0 or t1 <= t0:
        return None
    return (t1 - t0) / (s1 - s0) * max(total - s1, 0)


def describe_seconds(seconds: float) -> str:
    return f"{math.ceil(seconds)} s" if seconds < 90 else f"{math.ceil(seconds / 60)} min"


def prepare_workdir(images: list[Path], params: list[dict | None]) -> tuple[tempfile.TemporaryDirectory, list[Path], Path]:
    """A ``puppet-new-*`` folder with copies of the images (so they may be moved or edited while
    fine-tuning runs) and ``params.json`` (one object per image; null: estimate it)."""
    if len(params) != len(images):
        raise ValueError(f"{len(params)} expressions given for {len(images)} images")
    workdir = tempfile.TemporaryDirectory(prefix="puppet-new-")
    root = Path(workdir.name)
    try:
        copies = [Path(shutil.copyfile(p, root / f"{i:02d}-{p.name}")) for i, p in enumerate(images)]
        params_file = root / "params.json"
        params_file.write_text(json.dumps(params))
    except OSError:
        workdir.cleanup()
        raise
    return workdir, copies, params_file


class FinetuneJob(QObject):
    """One fine-tuning run; ``changed`` on every progress report and when it ends."""

    changed = Signal()
    ended = Signal()  # done, failed or cancelled: ``state`` says which

    def __init__(self, name: str, output: Path, workdir: tempfile.TemporaryDirectory, argv: list[str],
                 thumbnail: Path | None = None, renames: dict[str, str] | None = None,
                 parent: QObject | None = None):
        """``renames``: the working copies' paths -> the images' own, for messages that name them."""
        super().__init__(parent)
        self.name, self.output, self.thumbnail = name, output, thumbnail
        self.renames = renames or {}
        self.workdir_path = Path(workdir.name)
        self._workdir: tempfile.TemporaryDirectory | None = workdir
        self.argv = argv
        self.state = STARTING
        self.step, self.total = 0, 0
        self.error: str | None = None
        self._first: tuple[float, int] | None = None  # the first progress report: setup time is not a rate
        self._last: tuple[float, int] | None = None
        self._stdout = b""
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read_progress)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    @classmethod
    def for_images(cls, name: str, images: list[Path], params: list[dict | None], output: Path,
                   config: NewCharacterConfig, parent: QObject | None = None) -> FinetuneJob:
        workdir, copies, params_file = prepare_workdir(images, params)
        return cls(name, output, workdir, character_command(config, copies, output, params_file),
                   thumbnail=images[0] if images else None,
                   renames={str(c): str(p) for c, p in zip(copies, images)}, parent=parent)

    @property
    def running(self) -> bool:
        return self.state in (STARTING, RUNNING)

    def start(self) -> None:
        argv = at_low_priority(self.argv)
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.process.setProgram(argv[0])
        self.process.setArguments(argv[1:])
        self.process.start()

    def cancel(self) -> None:
        """Stop the process (nothing is written) and remove the working folder."""
        if not self.running:
            return
        self.state = CANCELLED
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(5000)
        self._end()

    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    def seconds_left(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        return seconds_left(self._first, self._last, self.total)

    def status(self) -> str:
        if self.state == STARTING:
            return "starting..."
        if self.state == RUNNING:
            if self.step >= self.total:
                return "saving..."
            left = self.seconds_left()
            return f"{100 * self.fraction():.0f} %" + (f", about {describe_seconds(left)} left" if left else "")
        if self.state == FAILED:
            return f"failed: {self.error}"
        return self.state

    def _read_progress(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(msg, dict) and "total" in msg and self.running:
                self.state, self.step, self.total = RUNNING, int(msg["step"]), int(msg["total"])
                self._last = (time.monotonic(), self.step)
                self._first = self._first or self._last
                self.changed.emit()

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if not self.running:  # cancelled: already ended
            return
        if code == 0 and status == QProcess.ExitStatus.NormalExit and self.output.is_file():
            self.state = DONE
        else:
            self._fail(self._reason(code))
            return
        self._end()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.running:
            self._fail(f"cannot start {self.process.program()} ({self.process.errorString()})")

    def _reason(self, code: int) -> str:
        """The command's last line on stderr (its one-line error), without the program's name."""
        err = bytes(self.process.readAllStandardError()).decode(errors="replace").strip().splitlines()
        line = err[-1].strip() if err else f"the fine-tuning process ended with code {code}"
        for copy, original in self.renames.items():
            line = line.replace(copy, original)
        return line.removeprefix("puppet-export: ")

    def _fail(self, reason: str) -> None:
        self.state, self.error = FAILED, reason
        self._end()

    def _end(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self.changed.emit()
        self.ended.emit()
