"""Making a new character from images: review crops, masks and expressions, then fine-tune.

The review page shows, per source image, its crop, its mask (check these first: a bad mask is
the usual cause of a bad character) and the expression it was read as (``puppet-export
expressions``, in its own process), drawn on the proxy head; readings the reader is unsure of are
marked. A preset (its button, or number keys 1-9 and 0) sets an image's expression at once, the
head pose kept; Shift+click or Ctrl+number adds a preset to the face as it is (a smile with an
open mouth); the sliders are for fine adjustment; Up/Down and Page Up/Down move between images.
"Make character" hands the images and expressions to a background fine-tuning job
(:mod:`.finetune_job`, shown in the gallery) and closes the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from puppet import params as P
from puppet.heads import Identity, render_head

from .finetune_job import FinetuneJob, NewCharacterConfig
from .sliders import ParamSliders
from .video_view import ImageView

REVIEW_SIDE = 128
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
PRESET_KEYS = "1234567890"  # one per preset, in the order of params.PRESETS
UNCERTAIN_COLOR = "#d80"

__all__ = ["CreateCharacterDialog", "NewCharacterConfig", "images_in", "review_sources"]


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def review_sources(paths: list[Path], base: Path):
    """The SourceSet to review, at REVIEW_SIDE, framed as the character will be for ``base``. A
    base that cannot be read frames them as the embedded one (proxy-driven) does: reading the
    expressions then fails, and the page says why."""
    from puppet.base_file import driving_mode
    from puppet.sources import CropRule, load_sources  # numpy/OpenCV only: no torch on this path

    try:
        mode = driving_mode(base)
    except ValueError:
        mode = "proxy"
    return load_sources(paths, REVIEW_SIDE, rule=CropRule.for_driving(mode))


def expressions_command(config: NewCharacterConfig, images: list[Path]) -> list[str]:
    """What fine-tuning will take each image's expression to be, as a JSON list on stdout (the
    estimate needs the base model, so torch: it runs in its own process)."""
    return [sys.executable, "-m", "export.cli", "expressions", "--base", str(config.base), *map(str, images)]


def _tile(chw: np.ndarray) -> np.ndarray:
    return (np.clip(chw, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)  # [3,R,R] float -> [R,R,3] uint8


class CreateCharacterDialog(QDialog):
    started = Signal(object)  # FinetuneJob, about to start: the page closes, the gallery shows it

    def __init__(self, images: list[Path], config: NewCharacterConfig, library_dir: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New character")
        self.resize(820, 600)
        self.images, self.config, self.library_dir = images, config, library_dir
        self.sources = review_sources(images, config.base)
        self.expr = np.stack([P.neutral() for _ in images])
        self.known = np.zeros(len(images), bool)  # read, or set by hand: else left to fine-tuning
        self.by_hand = np.zeros(len(images), bool)
        self.uncertain = np.zeros(len(images), bool)
        self._showing = False

        self.rows = QListWidget()
        for p in images:
            self.rows.addItem(p.name)
        self.crop_view, self.mask_view, self.head_view = ImageView(), ImageView(), ImageView()
        self.sliders = ParamSliders()
        self.presets: dict[str, QPushButton] = {}
        preset_grid = QGridLayout()
        for i, (name, key) in enumerate(zip(P.PRESETS, PRESET_KEYS)):
            button = self.presets[name] = QPushButton(f"{key}  {name}")
            button.setAutoDefault(False)  # Enter does not apply a preset
            button.setToolTip(f"{name} (key {key}); Shift+click or Ctrl+{key}: add it to the face as it is")
            button.clicked.connect(lambda _=False, name=name: self.apply_preset(
                name, add=bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)))
            preset_grid.addWidget(button, i // 5, i % 5)
        self.name = QLineEdit(images[0].stem.split("_")[0] if images else "character")
        self.start_button, self.cancel_button = QPushButton("Make character"), QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        warnings = QLabel("\n".join(self.sources.warnings) or "Masks look usable. Check each one.")
        self.expr_note = QLabel("Reading each image's expression...")
        self.missing_note = QLabel()  # what no image shows, once every image's expression is known
        self.missing_note.setStyleSheet(f"color: {UNCERTAIN_COLOR}")
        for label in (warnings, self.expr_note, self.missing_note):
            label.setWordWrap(True)

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
        right.addWidget(self.missing_note)
        right.addLayout(preset_grid)
        right.addWidget(self.sliders, 3)
        top = QHBoxLayout()
        top.addWidget(self.rows, 1)
        top.addLayout(right, 3)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Name"))
        bottom.addWidget(self.name, 1)
        bottom.addWidget(self.start_button)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addLayout(bottom)

        self.rows.currentRowChanged.connect(self._show)
        self.sliders.changed.connect(self._edit)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.reject)
        self._shortcuts()
        self.rows.setCurrentRow(0)
        self.rows.setFocus()
        self.reader = QProcess(self)
        cmd = expressions_command(config, images)
        self.reader.setProgram(cmd[0])
        self.reader.setArguments(cmd[1:])
        self.reader.finished.connect(self._expressions_read)
        self.reader.start()

    def _shortcuts(self) -> None:
        # Dialog-wide, so they work with the focus on a slider too; the name field keeps its digits.
        moves = {"Down": 1, "PgDown": 1, "Up": -1, "PgUp": -1}
        for key, step in moves.items():
            QShortcut(QKeySequence(key), self).activated.connect(lambda step=step: self.step(step))
        for name, key in zip(P.PRESETS, PRESET_KEYS):
            QShortcut(QKeySequence(key), self).activated.connect(lambda name=name: self.apply_preset(name))
            QShortcut(QKeySequence(f"Ctrl+{key}"), self).activated.connect(
                lambda name=name: self.apply_preset(name, add=True))

    def step(self, delta: int) -> None:
        """Show the next (1) or previous (-1) image."""
        row = min(max(self.rows.currentRow() + delta, 0), self.rows.count() - 1)
        self.rows.setCurrentRow(row)

    def apply_preset(self, name: str, add: bool = False) -> None:
        """Set the shown image's expression to a preset (``add``: on top of its face as it is)."""
        row = self.rows.currentRow()
        if row >= 0:
            self._set_by_hand(row, P.with_preset(self.expr[row], name, add))
            self._show(row)

    def _expressions_read(self, code: int, status) -> None:
        out = bytes(self.reader.readAllStandardOutput()).decode(errors="replace")
        try:
            values, uncertain = P.parse_expressions(out, len(self.expr)) if code == 0 else (None, None)
        except ValueError:
            values = uncertain = None
        if values is None or np.isnan(values).any():  # the reader reads every image: null is no reading
            err = bytes(self.reader.readAllStandardError()).decode(errors="replace").strip().splitlines()
            self.expr_note.setText(f"Could not read the expressions ({err[-1] if err else code}); "
                                   "fine-tuning will try again unless you set them with the presets or sliders.")
            return
        self.take_readings(values, uncertain)

    def take_readings(self, values: np.ndarray, uncertain: np.ndarray) -> None:
        """The reader's values; what the person set while waiting stays."""
        for i in np.flatnonzero(~self.by_hand):
            self.expr[i] = values[i]
        self.known[:] = True
        self.uncertain[:] = uncertain
        for i in range(len(self.images)):
            self._label(i)
        self._say_missing()
        unsure = int(uncertain.sum())
        self.expr_note.setText(
            "Expressions as the base model reads them"
            + (f"; {unsure} of {len(uncertain)} uncertain (marked ?): check those first" if unsure else "")
            + ". Set one with a preset (keys 1-0), adjust with the sliders; Up/Down: next image.")
        self._show(self.rows.currentRow())

    def _label(self, row: int) -> None:
        item = self.rows.item(row)
        unsure = self.uncertain[row] and not self.by_hand[row]
        item.setText(self.images[row].name + ("  \u2713" if self.by_hand[row] else "  ?" if unsure else ""))
        item.setForeground(QBrush(QColor(UNCERTAIN_COLOR)) if unsure else QBrush())
        item.setToolTip("the reading of this image is uncertain: check it" if unsure else "")

    def _show(self, row: int) -> None:
        if row < 0:
            return
        self.crop_view.set_image(_tile(self.sources.images[row]))
        self.mask_view.set_image(_tile(np.repeat(self.sources.masks[row], 3, 0)))
        self._showing = True  # the sliders show the values; their rounding does not replace them
        self.sliders.set_values(self.expr[row])
        self._showing = False
        self.head_view.set_image(render_head(Identity.from_seed(0), self.expr[row], 192).rgb)

    def _edit(self, values: np.ndarray) -> None:
        row = self.rows.currentRow()
        if row >= 0 and not self._showing:
            self._set_by_hand(row, values)
            self.head_view.set_image(render_head(Identity.from_seed(0), values, 192).rgb)

    def _set_by_hand(self, row: int, values: np.ndarray) -> None:
        self.expr[row] = values
        self.known[row] = self.by_hand[row] = True
        self._label(row)
        self._say_missing()

    def _say_missing(self) -> None:
        """What no image shows (no blink without shut eyes, no talking without an open mouth)."""
        missing = P.missing_expressions(self.expr) if self.known.all() else []
        self.missing_note.setText("".join(f"No image shows {m}. " for m in missing)
                                  + ("Add a drawing that does, or, if one does, set its expression. Where "
                                     "the features of the image nearest rest can be found, what is "
                                     "missing is drawn into it." if missing else ""))

    def output_path(self) -> Path:
        safe = "".join(c for c in self.name.text().strip() if c.isalnum() or c in "-_ ") or "character"
        return self.library_dir / f"{safe}.puppet"

    def start(self) -> FinetuneJob | None:
        """Start fine-tuning in the background and close the page."""
        out = self.output_path()
        # null: not read yet and not set by hand, so fine-tuning estimates it as the reader would have
        params = [P.as_dict(v) if k else None for v, k in zip(self.expr, self.known)]
        try:
            job = FinetuneJob.for_images(out.stem, self.images, params, out, self.config, parent=self.parent())
        except OSError as e:
            QMessageBox.warning(self, "New character", f"Cannot prepare fine-tuning: {e}")
            return None
        self.started.emit(job)  # shown before it runs, so that even a failure to start is seen
        job.start()
        self.accept()
        return job

    def done(self, result: int) -> None:
        if self.reader.state() != QProcess.ProcessState.NotRunning:
            self.reader.kill()
            self.reader.waitForFinished(5000)
        super().done(result)
