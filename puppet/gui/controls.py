"""The control panel: source, camera, expression tuning, background, recording."""

from __future__ import annotations

import cv2
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from puppet.compose import Background

from .cameras import SIZES, CameraInfo
from .sliders import PanelSlider, ParamSliders

SOURCE_DEMO, SOURCE_SLIDERS = "demo clip", "sliders"
GREEN = (0, 177, 64)
COLOURS = {"green": GREEN, "white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128),
           "blue": (40, 80, 200)}
TRANSPARENT, IMAGE = "transparent (GIF)", "image..."


class Controls(QWidget):
    VIRTUAL_CAMERA_TIP = "Send the character to a virtual camera, for video calls and streaming"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.source = QComboBox()
        self.source.addItems([SOURCE_DEMO, SOURCE_SLIDERS])
        self.resolution = QComboBox()
        self._cameras: dict[int, CameraInfo] = {}
        self._fill_sizes(SIZES)
        # Connected before any owner's slot, so the sizes match the camera when the owner restarts.
        self.source.currentIndexChanged.connect(self._source_changed)
        self.mirror = QCheckBox("Mirror")
        self.overlay = QCheckBox("Tracking overlay")
        self.calibrate = QPushButton("Calibrate neutral  (C)")
        self.gain = PanelSlider(50, 200, 100)  # percent
        self.smoothing = PanelSlider(25, 400, 100)  # percent
        self.background = QComboBox()
        self.background.addItems([*COLOURS, TRANSPARENT, IMAGE])
        self.fmt = QComboBox()
        self.fmt.addItems(["MP4", "GIF"])
        self.record = QPushButton("Record  (R)")
        self.record.setCheckable(True)
        self.elapsed = QLabel("")
        self.open_folder = QPushButton("Open recordings folder")
        self.snapshot = QPushButton("Snapshot PNG  (S)")
        self.virtual_camera = QPushButton("Virtual camera")
        self.virtual_camera.setCheckable(True)
        self.virtual_camera.setToolTip(self.VIRTUAL_CAMERA_TIP)
        self.sliders = ParamSliders()

        src = QGroupBox("Driver")
        f = QFormLayout(src)
        f.addRow("Source", self.source)
        f.addRow("Camera size", self.resolution)
        f.addRow(self.mirror)
        f.addRow(self.overlay)
        f.addRow(self.calibrate)
        tune = QGroupBox("Expression")
        f = QFormLayout(tune)
        f.addRow("Gain", self.gain)
        f.addRow("Smoothing", self.smoothing)
        look = QGroupBox("Background")
        QVBoxLayout(look).addWidget(self.background)
        rec = QGroupBox("Output")
        v = QVBoxLayout(rec)
        row = QHBoxLayout()
        row.addWidget(self.fmt)
        row.addWidget(self.record, 1)
        v.addLayout(row)
        v.addWidget(self.elapsed)
        v.addWidget(self.snapshot)
        v.addWidget(self.open_folder)
        v.addWidget(self.virtual_camera)
        self.sliders_box = QGroupBox("Expression sliders")
        QVBoxLayout(self.sliders_box).addWidget(self.sliders)
        layout = QVBoxLayout(self)
        for w in (src, tune, look, rec, self.sliders_box):
            layout.addWidget(w)
        layout.addStretch(1)
        self._source_changed()

    def chosen_background(self, ask: bool) -> Background | None:
        """The background the combo box names; an image is asked for only when ``ask``."""
        text = self.background.currentText()
        if text in COLOURS:
            return Background.of_color(COLOURS[text])
        if text == TRANSPARENT:
            return Background.transparent()
        path = QFileDialog.getOpenFileName(self, "Background image", "", "Images (*.png *.jpg *.jpeg)")[0] if ask else ""
        picture = cv2.imread(path) if path else None
        return None if picture is None else Background.of_image(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB))

    def restore(self, s: QSettings) -> None:
        self.mirror.setChecked(s.value("mirror", True, type=bool))
        self.gain.setValue(int(s.value("gain", 100)))
        self.smoothing.setValue(int(s.value("smoothing", 100)))
        self.resolution.setCurrentText(s.value("resolution", "640 x 480"))
        self.background.setCurrentText(s.value("background", "green"))

    def save(self, s: QSettings) -> None:
        for key, value in (("mirror", self.mirror.isChecked()), ("gain", self.gain.value()),
                           ("smoothing", self.smoothing.value()), ("resolution", self.resolution.currentText()),
                           ("background", self.background.currentText()), ("source", self.source.currentText())):
            s.setValue(key, value)

    def add_cameras(self, cameras: list[CameraInfo]) -> None:
        for row, cam in enumerate(cameras):
            self._cameras[cam.index] = cam
            self.source.insertItem(row, f"camera {cam.index}")

    def camera_index(self) -> int | None:
        text = self.source.currentText()
        return int(text.split()[1]) if text.startswith("camera ") else None

    def camera_size(self) -> tuple[int, int]:
        w, h = self.resolution.currentText().split(" x ")
        return int(w), int(h)

    def _fill_sizes(self, sizes) -> None:
        wanted = self.resolution.currentText()
        self.resolution.blockSignals(True)
        self.resolution.clear()
        self.resolution.addItems([f"{w} x {h}" for w, h in sizes])
        if self.resolution.findText(wanted) >= 0:
            self.resolution.setCurrentText(wanted)
        self.resolution.blockSignals(False)

    def _source_changed(self) -> None:
        index = self.camera_index()
        self.resolution.setEnabled(index is not None)
        if index in self._cameras:
            self._fill_sizes(self._cameras[index].sizes)
