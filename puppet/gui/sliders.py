"""A slider per expression parameter (ranges from puppet.params)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSlider, QWidget

from puppet import params as P

STEPS = 100


class ParamSliders(QWidget):
    changed = Signal(object)  # float32 [NUM_PARAMS]

    def __init__(self, parent=None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self._sliders: list[QSlider] = []
        for spec in P.PARAM_SPECS:
            s = QSlider(Qt.Orientation.Horizontal)
            s.setRange(0, STEPS)
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
