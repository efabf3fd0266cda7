"""A slider per expression parameter (ranges from puppet.params), and the slider every panel
of the window uses."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSlider, QWidget

from puppet import params as P

STEPS = 100


class PanelSlider(QSlider):
    """A slider in a scrolling panel: the mouse wheel scrolls the panel, and moves the slider
    only once it has focus (clicked or tabbed to)."""

    def __init__(self, lo: int = 0, hi: int = STEPS, value: int = 0, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: a wheel must not take focus
        self.setRange(lo, hi)
        self.setValue(value)

    def wheelEvent(self, event) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # passed on to the parents: the scroll area scrolls


class ParamSliders(QWidget):
    changed = Signal(object)  # float32 [NUM_PARAMS]

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self._sliders: list[QSlider] = []
        for spec in P.PARAM_SPECS:
            s = PanelSlider()
            s.setToolTip(spec.doc)
            s.valueChanged.connect(self._emit)
            self._sliders.append(s)
            form.addRow(QLabel(spec.name.replace("_", " ")), s)
        self.set_values(P.neutral())

    def values(self) -> np.ndarray:
        t = np.array([s.value() / STEPS for s in self._sliders], np.float32)
        return P.LOW + t * (P.HIGH - P.LOW)

    def set_values(self, values: np.ndarray) -> None:
        t = (P.clip(values) - P.LOW) / (P.HIGH - P.LOW)
        for s, v in zip(self._sliders, t):
            s.blockSignals(True)
            s.setValue(round(float(v) * STEPS))
            s.blockSignals(False)
        self._emit()

    def _emit(self) -> None:
        self.changed.emit(self.values())
