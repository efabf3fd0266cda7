"""Widgets that show numpy RGB images, scaled to fit, with an optional tracking overlay."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget


def to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 [H,W,3] or [H,W,4] -> a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb)
    h, w, c = rgb.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, w, h, c * w, fmt).copy()


class ImageView(QWidget):
    def __init__(self, parent: QWidget | None = None, background: str = "#202024"):
        super().__init__(parent)
        self._image: QImage | None = None
        self._points: list[QPointF] = []  # in image pixels
        self._box: QRectF | None = None
        self._background = QColor(background)
        self.overlay = False

    def set_image(self, rgb: np.ndarray, points: np.ndarray | None = None, box=None) -> None:
        self._image = to_qimage(rgb)
        # Plain Python floats for Qt: numpy scalars handed to QPointF have crashed PySide6 (a
        # refcount error on None), and every third landmark is enough to see the tracking.
        pts = [] if points is None else np.asarray(points, np.float64)[::3, :2].tolist()
        self._points = [QPointF(x, y) for x, y in pts]
        if box is None:
            self._box = None
        else:
            cx, cy, side = (float(v) for v in box)
            self._box = QRectF(cx - side / 2, cy - side / 2, side, side)
        self.update()

    @property
    def image(self) -> QImage | None:
        """The picture shown (None before the first)."""
        return self._image

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        k = min(self.width() / iw, self.height() / ih)
        return QRectF((self.width() - iw * k) / 2, (self.height() - ih * k) / 2, iw * k, ih * k)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self._background)
        if self._image is None:
            return
        r = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, self._image)
        if self.overlay:
            k = r.width() / self._image.width()
            p.translate(r.topLeft())
            p.scale(k, k)
            pen = QPen(QColor(90, 255, 140), 2)
            pen.setCosmetic(True)  # the same width whatever the scale
            p.setPen(pen)
            p.drawPoints(self._points)
            if self._box is not None:
                p.drawRect(self._box)
        p.end()

    def sizeHint(self) -> QSize:
        return QSize(320, 240)

