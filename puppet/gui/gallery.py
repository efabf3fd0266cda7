"""The character gallery: demo and user characters with thumbnails; import by dialog or drop.

Below the characters, one row per new character being fine-tuned (a :class:`FinetuneJob`): its
progress and time left, cancelled by its button, the context menu or the Delete key. A finished
job's row gives way to the character; a failed one stays, with the reason, until dismissed.
Characters whose bundle is broken are listed with the reason and cannot be chosen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from puppet.bundle import SUFFIX
from puppet.library import CharacterEntry, list_characters

from .finetune_job import DONE, FAILED, FinetuneJob

ICON_SIDE = 72


class JobRow(QWidget):
    """What the gallery shows of a fine-tuning job."""

    closing = Signal(object)  # FinetuneJob: its Cancel (running) or Dismiss (ended) button

    def __init__(self, job: FinetuneJob, parent=None):
        super().__init__(parent)
        self.job = job
        self.icon = QLabel()
        self.icon.setFixedSize(ICON_SIDE, ICON_SIDE)
        if job.thumbnail is not None:
            pix = QPixmap(str(job.thumbnail))
            if not pix.isNull():
                self.icon.setPixmap(pix.scaled(ICON_SIDE, ICON_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))
        self.title = QLabel(job.name)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.button = QPushButton()
        self.button.clicked.connect(lambda: self.closing.emit(self.job))
        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.addWidget(self.title)
        text.addWidget(self.bar)
        text.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.icon)
        layout.addLayout(text, 1)
        layout.addWidget(self.button, alignment=Qt.AlignmentFlag.AlignTop)
        self.update_from_job()

    def update_from_job(self) -> None:
        job = self.job
        if job.total:
            self.bar.setRange(0, job.total)
            self.bar.setValue(job.step)
        else:
            self.bar.setRange(0, 0)  # busy until the first step is reported
        if not job.running:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
        self.status.setText(job.status())
        self.status.setToolTip(job.error or "")
        self.button.setText("Cancel" if job.running else "Dismiss")


class Gallery(QListWidget):
    chosen = Signal(object)  # CharacterEntry
    refused = Signal(object)  # CharacterEntry whose bundle is broken (``problem`` says why)
    dropped = Signal(list)  # list[Path]: bundles or images dropped on the gallery
    job_ended = Signal(object)  # FinetuneJob: done, failed or cancelled
    released = Signal()  # the highlighted row (a job's) went away: nothing is highlighted now

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        self.setViewMode(QListWidget.ViewMode.ListMode)
        # Long names wrap beside the thumbnail instead of widening the list past its column.
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setDragDropMode(QListWidget.DragDropMode.DropOnly)
        self.entries: list[CharacterEntry] = []  # rows 0 .. len-1
        self.jobs: list[FinetuneJob] = []  # the rows after them
        self.currentRowChanged.connect(self._row_changed)

    # ---- characters ---------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """List the characters anew. The highlighted row stays without being chosen again (the
        character on screen is not reloaded); ``select`` names a character to choose."""
        row = self.currentRow()
        keep = self.entries[row].path if 0 <= row < len(self.entries) else None
        keep_job = self.job_at(row)
        self.blockSignals(True)
        self.clear()
        self.entries = list_characters()
        for i, entry in enumerate(self.entries):
            self.addItem(self._character_item(i, entry))
        for job in self.jobs:
            self._add_job_row(job)
        paths = [e.path for e in self.entries]
        if keep in paths:
            self.setCurrentRow(paths.index(keep))
        elif keep_job is not None:
            self.setCurrentRow(self.job_row(keep_job))
        self.blockSignals(False)
        names = [e.name for e in self.entries]
        if select in names:
            self.setCurrentRow(names.index(select))

    def _character_item(self, i: int, entry: CharacterEntry) -> QListWidgetItem:
        if entry.problem is not None:
            item = QListWidgetItem(f"{i + 1}  {entry.name}  (broken)")
            item.setToolTip(f"{entry.path}\n{entry.problem}")
            item.setForeground(QBrush(QColor("#c33")))
            return item
        item = QListWidgetItem(f"{i + 1}  {entry.name}" + ("" if entry.origin == "demo" else "  (yours)"))
        pix = QPixmap()
        if pix.loadFromData(entry.thumbnail or b""):
            item.setIcon(QIcon(pix))
        else:
            item.setToolTip("no thumbnail")
        return item

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            entry = self.entries[row]
            (self.refused if entry.problem is not None else self.chosen).emit(entry)

    # ---- fine-tuning jobs ---------------------------------------------------------------------
    def add_job(self, job: FinetuneJob) -> None:
        """Show a job (started or about to be) until it has ended and been dealt with."""
        job.setParent(self)
        self.jobs.append(job)
        job.changed.connect(lambda: self._job_changed(job))
        job.ended.connect(lambda: self._job_ended(job))
        self._add_job_row(job)

    def _add_job_row(self, job: FinetuneJob) -> None:
        item = QListWidgetItem()
        item.setToolTip(f"{job.name}: fine-tuning into {job.output}")
        self.addItem(item)
        widget = JobRow(job)
        widget.closing.connect(self.close_job)
        item.setSizeHint(widget.sizeHint())
        self.setItemWidget(item, widget)

    def job_row(self, job: FinetuneJob) -> int:
        return len(self.entries) + self.jobs.index(job)

    def job_at(self, row: int) -> FinetuneJob | None:
        i = row - len(self.entries)
        return self.jobs[i] if 0 <= i < len(self.jobs) else None

    def job_widget(self, job: FinetuneJob) -> JobRow:
        return self.itemWidget(self.item(self.job_row(job)))

    def _job_changed(self, job: FinetuneJob) -> None:
        if job in self.jobs:
            self.job_widget(job).update_from_job()

    def _job_ended(self, job: FinetuneJob) -> None:
        if job.state != FAILED:  # a failure stays listed, with its reason, until dismissed
            self._remove_job(job)
        if job.state == DONE:
            self.refresh()
        self.job_ended.emit(job)

    def close_job(self, job: FinetuneJob) -> None:
        """Cancel a running job, or dismiss one that failed."""
        if job.running:
            job.cancel()  # ends it: _job_ended removes the row
        elif job in self.jobs:
            self._remove_job(job)

    def _remove_job(self, job: FinetuneJob) -> None:
        if job not in self.jobs:
            return
        row = self.job_row(job)
        current = self.currentRow() == row
        # Silently: Qt would make a neighbour current, and a character row would be chosen.
        self.blockSignals(True)
        self.takeItem(row)
        if current:
            self.setCurrentRow(-1)
        self.blockSignals(False)
        self.jobs.remove(job)
        job.deleteLater()
        if current:
            self.released.emit()

    def cancel_jobs(self) -> None:
        for job in list(self.jobs):
            job.cancel()

    # ---- events -------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        job = self.job_at(self.currentRow())
        if event.key() == Qt.Key.Key_Delete and job is not None:
            self.close_job(job)
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event) -> None:
        job = self.job_at(self.row(self.itemAt(event.pos()))) if self.itemAt(event.pos()) else None
        if job is None:
            return
        menu = QMenu(self)
        menu.addAction("Cancel fine-tuning" if job.running else "Dismiss", lambda: self.close_job(job))
        menu.exec(event.globalPos())

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.dropped.emit(paths)
            event.acceptProposedAction()


def is_bundle(path: Path) -> bool:
    return path.suffix.lower() == SUFFIX
