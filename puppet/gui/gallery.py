"""The character gallery: demo and user characters with thumbnails; import by dialog or drop."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from puppet.bundle import SUFFIX, BundleError, thumbnail_of
from puppet.library import CharacterEntry, list_characters


class Gallery(QListWidget):
    chosen = Signal(object)  # CharacterEntry
    dropped = Signal(list)  # list[Path]: bundles or images dropped on the gallery

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QSize(72, 72))
        self.setViewMode(QListWidget.ViewMode.ListMode)
        # Long names wrap beside the thumbnail instead of widening the list past its column.
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setDragDropMode(QListWidget.DragDropMode.DropOnly)
        self.entries: list[CharacterEntry] = []
        self.currentRowChanged.connect(self._row_changed)

    def refresh(self, select: str | None = None) -> None:
        row = self.currentRow()
        current = select or (self.entries[row].name if 0 <= row < len(self.entries) else None)
        self.blockSignals(True)
        self.clear()
        self.entries = list_characters()
        for i, entry in enumerate(self.entries):
            item = QListWidgetItem(f"{i + 1}  {entry.name}" + ("" if entry.origin == "demo" else "  (yours)"))
            try:
                pix = QPixmap()
                pix.loadFromData(thumbnail_of(entry.path))
                item.setIcon(QIcon(pix))
            except BundleError:
                item.setToolTip("no thumbnail")
            self.addItem(item)
        self.blockSignals(False)
        names = [e.name for e in self.entries]
        if current in names:
            self.setCurrentRow(names.index(current))

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.chosen.emit(self.entries[row])

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


