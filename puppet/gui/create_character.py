"""Making a new character from images: review crops, masks and expressions, then fine-tune.

The review page shows, per source image, its crop, its mask (check these first: a bad mask is
the usual cause of a bad character) and the expression it was read as (``puppet-export
expressions``, in its own process), drawn on the proxy head, with sliders to correct it.
Fine-tuning then runs in a separate process (``puppet-export character``), which reports
progress as JSON lines and writes the bundle atomically, so cancelling leaves nothing behind.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from puppet import params as P
from puppet.assets import DEFAULT_BASE
from puppet.heads import Identity, render_head

from .sliders import ParamSliders
from .video_view import ImageView

REVIEW_SIDE = 128
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class NewCharacterConfig:
    base: Path = DEFAULT_BASE
    iterations: int | None = None  # None: the fine-tuning command's default


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def review_sources(paths: list[Path]):
    """The SourceSet to review, at REVIEW_SIDE."""
    from export.sources import load_sources  # numpy/OpenCV only: no torch on this path

    return load_sources(paths, REVIEW_SIDE)


def expressions_command(config: NewCharacterConfig, images: list[Path]) -> list[str]:
    """What fine-tuning will take each image's expression to be, as a JSON list on stdout (the
    estimate needs the base model, so torch: it runs in its own process)."""
    return [sys.executable, "-m", "export.cli", "expressions", "--base", str(config.base), *map(str, images)]


def character_command(config: NewCharacterConfig, images: list[Path], out: Path, params_file: Path) -> list[str]:
    cmd = [sys.executable, "-m", "export.cli", "character", "--base", str(config.base), *map(str, images),
           "-o", str(out), "--params", str(params_file), "--progress", "json"]
    return cmd if config.iterations is None else cmd + ["--iterations", str(config.iterations)]


def _tile(chw: np.ndarray) -> np.ndarray:
    return (np.clip(chw, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)  # [3,R,R] float -> [R,R,3] uint8


class CreateCharacterDialog(QDialog):
    created = Signal(Path)

    def __init__(self, images: list[Path], config: NewCharacterConfig, library_dir: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New character")
        self.resize(820, 560)
        self.images, self.config, self.library_dir = images, config, library_dir
        self.sources = review_sources(images)
        self.expr = np.stack([P.neutral() for _ in images])
        self.known = np.zeros(len(images), bool)  # estimated, or set by hand: else left to fine-tuning
        self._showing = False
        self.process: QProcess | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="puppet-new-")

        self.rows = QListWidget()
        for p in images:
            self.rows.addItem(p.name)
        self.crop_view, self.mask_view, self.head_view = ImageView(), ImageView(), ImageView()
        self.sliders = ParamSliders()
        self.name = QLineEdit(images[0].stem.split("_")[0] if images else "character")
        self.progress = QProgressBar()
        self.start_button, self.cancel_button = QPushButton("Make character"), QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        warnings = QLabel("\n".join(self.sources.warnings) or "Masks look usable. Check each one.")
        self.expr_note = QLabel("Reading each image's expression...")
        warnings.setWordWrap(True)

        views = QHBoxLayout()
        for title, view in (("crop", self.crop_view), ("mask", self.mask_view), ("read as", self.head_view)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title), alignment=Qt.AlignmentFlag.AlignHCenter)
            col.addWidget(view, 1)
            views.addLayout(col, 1)
        right = QVBoxLayout()
        right.addLayout(views, 2)
        right.addWidget(warnings)
        right.addWidget(self.expr_note)
        right.addWidget(self.sliders, 3)
        top = QHBoxLayout()
        top.addWidget(self.rows, 1)
        top.addLayout(right, 3)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Name"))
        bottom.addWidget(self.name)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.start_button)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addLayout(bottom)

        self.rows.currentRowChanged.connect(self._show)
        self.sliders.changed.connect(self._edit)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.rows.setCurrentRow(0)
        self.reader = QProcess(self)
        cmd = expressions_command(config, images)
        self.reader.setProgram(cmd[0])
        self.reader.setArguments(cmd[1:])
        self.reader.finished.connect(self._expressions_read)
        self.reader.start()

    def _expressions_read(self, code: int, status) -> None:
        out = bytes(self.reader.readAllStandardOutput()).decode(errors="replace")
        try:
            values = [P.from_dict(v) for v in json.loads(out)] if code == 0 else None
        except (ValueError, KeyError, TypeError):
            values = None
        if values is None or len(values) != len(self.expr):
            err = bytes(self.reader.readAllStandardError()).decode(errors="replace").strip().splitlines()
            self.expr_note.setText(f"Could not read the expressions ({err[-1] if err else code}); "
                                   "fine-tuning will try again unless you set them with the sliders.")
            return
        for i, v in enumerate(values):
            if not self.known[i]:  # what the person set while waiting stays
                self.expr[i], self.known[i] = v, True
        self.expr_note.setText("Expressions as the base model reads them: correct them with the sliders.")
        self._show(self.rows.currentRow())

    def _show(self, row: int) -> None:
        if row < 0:
            return
        self.crop_view.set_image(_tile(self.sources.images[row]))
        self.mask_view.set_image(_tile(np.repeat(self.sources.masks[row], 3, 0)))
        self._showing = True
        self.sliders.set_values(self.expr[row])
        self._showing = False

    def _edit(self, values: np.ndarray) -> None:
        row = self.rows.currentRow()
        if row >= 0:
            self.expr[row] = values
            self.known[row] |= not self._showing
            self.head_view.set_image(render_head(Identity.from_seed(0), values, 192).rgb)

    def output_path(self) -> Path:
        safe = "".join(c for c in self.name.text().strip() if c.isalnum() or c in "-_ ") or "character"
        return self.library_dir / f"{safe}.puppet"

    def start(self) -> None:
        params_file = Path(self._tmp.name) / "params.json"
        # null: not read yet and not set by hand, so fine-tuning estimates it as the reader would have
        params_file.write_text(json.dumps([P.as_dict(v) if k else None for v, k in zip(self.expr, self.known)]))
        self.library_dir.mkdir(parents=True, exist_ok=True)
        cmd = character_command(self.config, self.images, self.output_path(), params_file)
        self.process = QProcess(self)
        self.process.setProgram(cmd[0])
        self.process.setArguments(cmd[1:])
        self.process.readyReadStandardOutput.connect(self._read_progress)
        self.process.finished.connect(self._finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.process.start()

    def _read_progress(self) -> None:
        for line in bytes(self.process.readAllStandardOutput()).decode(errors="replace").splitlines():
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "total" in msg:
                self.progress.setRange(0, msg["total"])
                self.progress.setValue(msg["step"])
            if "done" in msg:
                self.created.emit(Path(msg["done"]))

    def _finished(self, code: int, status) -> None:
        self.cancel_button.setEnabled(False)
        self.start_button.setEnabled(True)
        self.progress.setRange(0, 1)
        if code == 0:
            self.progress.setValue(1)
            self.accept()
        elif self.process is not None and not self.process.property("cancelled"):
            err = bytes(self.process.readAllStandardError()).decode(errors="replace").strip().splitlines()
            QMessageBox.warning(self, "New character", err[-1] if err else f"fine-tuning failed ({code})")

    def done(self, result: int) -> None:
        if self.reader.state() != QProcess.ProcessState.NotRunning:
            self.reader.kill()
            self.reader.waitForFinished(5000)
        super().done(result)

    def cancel(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.setProperty("cancelled", True)
            self.process.kill()
            self.process.waitForFinished(5000)
        self.reject()
