"""The main window: the character large, the camera small inside it, the gallery and controls.

The pipeline (puppet.pipeline) does all the work on its own threads; this window only starts,
steers and stops it, and paints the latest finished frame that the bridge hands over.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

import cv2
from platformdirs import user_videos_dir
from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from puppet import params as P
from puppet.assets import AssetError, demo_clip
from puppet.bundle import BundleError
from puppet.capture import CameraConfig, CameraSource, CaptureError, VideoFileSource
from puppet.compose import Background, ComposeConfig
from puppet.engine import Engine
from puppet.library import CharacterEntry, LibraryError, import_character, user_characters_dir
from puppet.pipeline import Pipeline, PipelineConfig, PipelineError
from puppet.tracking import ExpressionConfig
from puppet.virtual_camera import VirtualCamera, VirtualCameraError

from .bridge import PipelineBridge
from .cameras import CameraInfo, probe_cameras
from .controls import GREEN, SOURCE_DEMO, SOURCE_SLIDERS, Controls
from .create_character import CreateCharacterDialog, NewCharacterConfig, images_in
from .engine_loader import EngineLoader
from .finetune_job import DONE, FAILED, FinetuneJob
from .gallery import Gallery, is_bundle
from .settings import open_settings
from .video_view import ImageView

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    cameras_found = Signal(list)

    def __init__(self, recordings_dir: Path | None = None, probe: bool = True,
                 new_character: NewCharacterConfig | None = None):
        super().__init__()
        self.new_character = new_character or NewCharacterConfig()
        self.setWindowTitle("puppet")
        self.resize(1180, 720)
        self.settings = open_settings()
        self.recordings_dir = recordings_dir or Path(user_videos_dir()) / "puppet"
        self.pipeline: Pipeline | None = None
        self.bridge: PipelineBridge | None = None
        # The character on screen; it outlives pipelines (a new source reuses it).
        self.engine: Engine | None = None
        self.shown: CharacterEntry | None = None
        self.loader = EngineLoader(self)
        self._told: set[str] = set()  # engine notices shown: told once, not for every character
        self.virtual_camera: VirtualCamera | None = None
        self.last_result = None
        self._camera_aspect = 4 / 3
        self._inset_shape: tuple[int, ...] = ()
        self.last_recording = None
        self._record_started = 0.0
        self._background = Background.of_color(GREEN)

        self.view = ImageView()
        self.camera_view = ImageView(self.view)
        self.camera_view.resize(200, 150)
        self.gallery = Gallery()
        self.controls = Controls()
        import_button, new_button = QPushButton("Import..."), QPushButton("New character...")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(QLabel("Characters"))
        lv.addWidget(self.gallery, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(import_button)
        buttons.addWidget(new_button)
        lv.addLayout(buttons)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.view)
        split.addWidget(scroll)
        split.setSizes([220, 640, 320])
        self.setCentralWidget(split)
        self.readout = QLabel("")
        self.statusBar().addPermanentWidget(self.readout)

        c = self.controls
        self.gallery.chosen.connect(self.set_character)
        self.gallery.refused.connect(self._refused)
        self.gallery.dropped.connect(self.handle_drop)
        self.gallery.job_ended.connect(self._finetune_ended)
        self.gallery.released.connect(self._select_shown)
        import_button.clicked.connect(self.import_dialog)
        new_menu = QMenu(new_button)
        new_menu.addAction("From images...", self.new_character_from_files)
        new_menu.addAction("From a folder...", self.new_character_from_folder)
        new_button.setMenu(new_menu)
        c.source.currentIndexChanged.connect(lambda _: self.restart())
        c.resolution.currentIndexChanged.connect(lambda _: self.restart())
        c.mirror.toggled.connect(lambda on: self.pipeline and self.pipeline.set_mirror(on))
        c.overlay.toggled.connect(lambda on: setattr(self.camera_view, "overlay", on))
        c.calibrate.clicked.connect(self.calibrate)
        c.gain.valueChanged.connect(self.apply_tracking)
        c.smoothing.valueChanged.connect(self.apply_tracking)
        c.background.activated.connect(self.choose_background)
        c.record.clicked.connect(self.toggle_recording)
        c.snapshot.clicked.connect(self.snapshot)
        c.open_folder.clicked.connect(self.open_recordings_folder)
        c.virtual_camera.toggled.connect(self.toggle_virtual_camera)
        self.loader.loaded.connect(self._engine_loaded)
        self.loader.failed.connect(self._engine_failed)
        c.sliders.changed.connect(lambda v: self.pipeline and self._sliders_active() and self.set_manual(v))
        self._shortcuts()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(250)
        self.cameras_found.connect(self._add_cameras)
        self._restore()
        self.gallery.refresh(select=self.settings.value("character"))
        if self.gallery.currentRow() < 0 and self.gallery.count():
            self.gallery.setCurrentRow(0)
        if probe:
            threading.Thread(target=lambda: self.cameras_found.emit(probe_cameras()), daemon=True).start()

    # ---- setup ------------------------------------------------------------------------------
    def _shortcuts(self) -> None:
        keys = {"R": self.toggle_recording_key, "C": self.calibrate, "S": self.snapshot,
                "F11": self.toggle_full_screen, "Ctrl+I": self.import_dialog, "Ctrl+N": self.new_character_from_files,
                "Escape": self.showNormal}
        for key, slot in keys.items():
            QShortcut(QKeySequence(key), self).activated.connect(slot)
        for n in range(1, 10):
            QShortcut(QKeySequence(str(n)), self).activated.connect(lambda n=n: self.select_row(n - 1))

    def _restore(self) -> None:
        self.controls.restore(self.settings)
        self._background = self.controls.chosen_background(ask=False) or self._background
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def _save(self) -> None:
        s = self.settings
        self.controls.save(s)
        s.setValue("geometry", self.saveGeometry())
        if 0 <= self.gallery.currentRow() < len(self.gallery.entries):
            s.setValue("character", self.gallery.entries[self.gallery.currentRow()].name)
        s.sync()

    def _add_cameras(self, cameras: list[CameraInfo]) -> None:
        self.controls.add_cameras(cameras)
        default = f"camera {cameras[0].index}" if cameras else SOURCE_DEMO
        wanted = self.settings.value("source", default)
        if self.controls.source.findText(wanted) >= 0:
            self.controls.source.setCurrentText(wanted)

    # ---- the pipeline -------------------------------------------------------------------------
    def current_character(self):
        row = self.gallery.currentRow()
        # A fine-tuning job's row is not a character: the one on screen stays current.
        return self.gallery.entries[row] if 0 <= row < len(self.gallery.entries) else self.shown

    def _sliders_active(self) -> bool:
        return self.controls.source.currentText() == SOURCE_SLIDERS

    def _source(self):
        c = self.controls
        index = c.camera_index()
        if index is not None:
            w, h = c.camera_size()
            return CameraSource(CameraConfig(index=index, width=w, height=h))
        if c.source.currentText() == SOURCE_DEMO:
            return VideoFileSource(demo_clip(), realtime=True, loop=True)
        return None

    def restart(self) -> None:
        """(Re)start the pipeline for the current character and source. A character not on
        screen yet is loaded off this thread first (see _engine_loaded)."""
        self.stop_pipeline()
        entry = self.current_character()
        self.controls.sliders_box.setVisible(self._sliders_active())
        if entry is None:
            self.message("No characters yet: import a .puppet file or make a new character.")
            return
        if self._ready(entry):
            self._start_pipeline(self.engine)

    def _ready(self, entry: CharacterEntry) -> bool:
        """Whether ``entry`` is the character on screen; if not, it is loaded, unless its load is
        under way already (sources and sizes change while it loads: one read of the file serves)."""
        if self.engine is not None and self.shown is not None and self.shown.path == entry.path:
            self.loader.cancel()  # a load of another character, no longer wanted
            self.view.unsetCursor()
            self.message(entry.name)  # not "Loading" the one cancelled
            return True
        pending = self.loader.pending
        if pending is None or pending.path != entry.path:
            self._load(entry)
        return False

    def _load(self, entry: CharacterEntry) -> None:
        self.loader.request(entry.path, entry)
        self.view.setCursor(Qt.CursorShape.BusyCursor)
        self.message(f"Loading {entry.name}...")

    def _engine_loaded(self, engine: Engine, entry: CharacterEntry) -> None:
        """A requested character is ready: swap it into the running pipeline, or start one."""
        self.view.unsetCursor()
        swap = self.pipeline is not None and self.pipeline.running
        if swap:
            try:
                self.pipeline.set_character(engine)
            except PipelineError as e:
                self._wrong_source(e)
                self._select_shown()
                return
        self.engine, self.shown = engine, entry
        self.message(self._untold(engine.notice) or entry.name)
        if not swap:
            self._start_pipeline(engine)

    def _untold(self, notice: str | None) -> str | None:
        """``notice`` the first time the window gets it, else None."""
        if notice is None or notice in self._told:
            return None
        self._told.add(notice)
        return notice

    def _engine_failed(self, message: str, entry: CharacterEntry) -> None:
        """The character stays as it was; the message names the file."""
        self.view.unsetCursor()
        self.message(message, error=True)
        self._select_shown()

    def _select_shown(self) -> None:
        """Highlight the character on screen again, without loading it anew."""
        paths = [e.path for e in self.gallery.entries]
        if self.shown is not None and self.shown.path in paths:
            self.gallery.blockSignals(True)
            self.gallery.setCurrentRow(paths.index(self.shown.path))
            self.gallery.blockSignals(False)

    def _start_pipeline(self, engine: Engine) -> None:
        self.stop_pipeline()
        try:
            source = self._source()
        except (CaptureError, AssetError) as e:
            self.message(str(e), error=True)
            return
        self.bridge = PipelineBridge(self)
        self.bridge.frame.connect(self._show_frame)
        self.bridge.error.connect(lambda m: self.message(m, error=True))
        self.bridge.finished.connect(self._finished)
        config = PipelineConfig(mirror=self.controls.mirror.isChecked(),
                                compose=ComposeConfig(background=self._background))
        self.pipeline = Pipeline(engine, source, config, on_frame=self.bridge.on_frame,
                                 on_error=self.bridge.on_error, on_finished=self.bridge.on_finished)
        self.apply_tracking()
        if source is None:
            self.set_manual(self.controls.sliders.values())
        self.pipeline.start()

    def set_manual(self, values) -> None:
        try:
            self.pipeline.set_manual_params(values)
        except PipelineError as e:
            self._wrong_source(e)

    def _wrong_source(self, e: PipelineError) -> None:
        """The sliders cannot drive this character (a face-mode one)."""
        self.message(f"{e}; choose a camera or the demo clip for this character", error=True)

    def stop_pipeline(self) -> None:
        if self.controls.record.isChecked():
            self.toggle_recording()
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None

    def _show_frame(self) -> None:
        if self.bridge is None:
            return
        r = self.bridge.take()
        if r is None:
            return
        # Sliders have no camera: the inset shows the proxy head they draw, which drives the character.
        inset = r.driver if self._sliders_active() else r.camera
        if inset.shape != self._inset_shape:
            self._inset_shape = inset.shape
            self._place_camera(inset.shape[1] / inset.shape[0])
        self.last_result = r
        self.view.set_image(r.image)
        if inset is r.camera:
            self.camera_view.set_image(r.camera, r.track.landmarks, r.track.box)
        else:
            self.camera_view.set_image(inset)
        if self.virtual_camera is not None:
            try:
                self.virtual_camera.send(r.image)
            except VirtualCameraError as e:
                self._virtual_camera_off(str(e))

    def _tick(self) -> None:
        if self.pipeline is not None and self.pipeline.running and self.last_result is not None:
            s = self.pipeline.stats()
            face = "face" if self.last_result.track.found else "no face"
            self.readout.setText(f"{s.provider}  |  {s.fps:.1f} fps  |  latency {s.latency_ms:.0f} ms  |  {face}")
        if self.controls.record.isChecked():
            self.controls.elapsed.setText(f"recording {time.monotonic() - self._record_started:.1f} s")

    def _finished(self, summary) -> None:
        if summary.error:
            self.message(summary.error, error=True)

    # ---- actions ------------------------------------------------------------------------------
    def set_character(self, entry: CharacterEntry) -> None:
        if self.pipeline is not None and self.pipeline.running:
            self._ready(entry)  # swapped in when loaded; until then the current one runs on
        else:
            self.restart()

    def select_row(self, row: int) -> None:
        if 0 <= row < self.gallery.count():
            self.gallery.setCurrentRow(row)

    def calibrate(self) -> None:
        if self.pipeline is not None:
            self.pipeline.calibrate()
            self.message("Calibrating: look at the camera with a relaxed face for a second.")

    def apply_tracking(self) -> None:
        if self.pipeline is None:
            return
        gain = self.controls.gain.value() / 100
        self.pipeline.set_tracker_options(smoothing=self.controls.smoothing.value() / 100,
                                          expression=ExpressionConfig(gain={n: gain for n in P.PARAM_NAMES}))

    def choose_background(self) -> None:
        background = self.controls.chosen_background(ask=True)
        if background is None:
            return
        self._background = background
        if self.pipeline is not None:
            self.pipeline.set_background(self._background)

    def toggle_recording_key(self) -> None:
        self.controls.record.toggle()
        self.toggle_recording()

    def toggle_recording(self) -> None:
        c = self.controls
        if self.pipeline is None:
            c.record.setChecked(False)
            return
        if c.record.isChecked() and not self.pipeline.recording:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
            suffix = ".gif" if c.fmt.currentText() == "GIF" else ".mp4"
            path = self.recordings_dir / f"puppet-{datetime.now():%Y%m%d-%H%M%S}{suffix}"
            try:
                self.pipeline.start_recording(path)
            except (OSError, ValueError, RuntimeError) as e:
                c.record.setChecked(False)
                self.message(str(e), error=True)
                return
            self._record_started = time.monotonic()
            c.record.setText("Stop  (R)")
        elif not c.record.isChecked() or self.pipeline.recording:
            result = self.pipeline.stop_recording()
            c.record.setChecked(False)
            c.record.setText("Record  (R)")
            self.last_recording = result
            if result is not None:
                c.elapsed.setText(f"{result.path.name}: {result.duration_s:.1f} s")
                self.message(f"Saved {result.path}" + (f" ({result.error})" if result.error else ""))

    def snapshot(self) -> Path | None:
        if self.last_result is None:
            return None
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        path = self.recordings_dir / f"puppet-{datetime.now():%Y%m%d-%H%M%S-%f}.png"
        img = self.last_result.image
        code = cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR
        cv2.imwrite(str(path), cv2.cvtColor(img, code))
        self.message(f"Saved {path}")
        return path

    def open_recordings_folder(self) -> None:
        folder = self.recordings_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.message(f"{folder}: cannot create the recordings folder ({e.strerror or e})", error=True)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.message(f"Recordings are in {folder} (no file manager is set up to open it)")

    def toggle_virtual_camera(self, on: bool) -> None:
        """Send the character to the system's virtual camera, or stop; without pyvirtualcam or a
        device the toggle turns itself off and says why."""
        if not on:
            self._close_virtual_camera()
            self.message("Virtual camera off")
            return
        # Opened now, so that a missing device is said at once; before the first frame at the
        # side the character draws at.
        side = self.engine.output_resolution if self.engine is not None else 256
        height, width = self.last_result.image.shape[:2] if self.last_result is not None else (side, side)
        try:
            cam = VirtualCamera(self.pipeline.source.fps if self.pipeline is not None else 30.0)
            cam.open(width, height)
        except VirtualCameraError as e:
            self._virtual_camera_off(str(e))
            return
        self.virtual_camera = cam
        self.controls.virtual_camera.setToolTip(self.controls.VIRTUAL_CAMERA_TIP)
        self.message(f"Sending to the virtual camera {cam.device or ''}".rstrip())

    def _virtual_camera_off(self, reason: str) -> None:
        self._close_virtual_camera()
        button = self.controls.virtual_camera
        button.blockSignals(True)
        button.setChecked(False)
        button.blockSignals(False)
        button.setToolTip(reason)
        self.message(reason, error=True)

    def _close_virtual_camera(self) -> None:
        cam, self.virtual_camera = self.virtual_camera, None
        if cam is not None:
            cam.close()

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def import_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import characters", "", "Characters (*.puppet)")
        self.import_bundles([Path(f) for f in files])

    def import_bundles(self, paths: list[Path]) -> None:
        last = None
        for path in paths:
            try:
                last = import_character(path, overwrite=True)
            except (LibraryError, BundleError, OSError) as e:
                self.message(str(e), error=True)
        if last is not None:
            self.gallery.refresh(select=last.name)
            self.message(f"Imported {last.name}")

    def handle_drop(self, paths: list[Path]) -> None:
        bundles = [p for p in paths if is_bundle(p)]
        images = [p for p in paths if not is_bundle(p)]
        if bundles:
            self.import_bundles(bundles)
        if images:
            self.new_character_dialog(images)

    def new_character_from_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Images of the character (1 to 16)", "",
                                                "Images (*.png *.jpg *.jpeg *.webp)")
        self.new_character_dialog([Path(f) for f in files])

    def new_character_from_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with images of the character")
        if folder:
            images = images_in(Path(folder))
            if not images:
                self.message(f"{folder}: no PNG, JPEG or WebP images in this folder", error=True)
            self.new_character_dialog(images)

    def new_character_dialog(self, images: list[Path]) -> CreateCharacterDialog | None:
        """The review page for these images; it closes when fine-tuning starts, which then runs in
        the background, shown in the gallery."""
        if not images:
            return None
        try:
            dialog = CreateCharacterDialog(images, self.new_character, user_characters_dir(), self)
        except (ValueError, OSError) as e:
            self.message(str(e), error=True)
            return None
        dialog.started.connect(self._finetune_started)
        dialog.open()
        return dialog

    def _finetune_started(self, job: FinetuneJob) -> None:
        self.gallery.add_job(job)
        self.message(f"Making {job.name} in the background: its progress is in the gallery")

    def _finetune_ended(self, job: FinetuneJob) -> None:
        """The new character is listed (not switched to: the live view goes on as it was)."""
        if job.state == DONE:
            self.message(f"New character {job.name} is ready in the gallery")
        elif job.state == FAILED:
            self.message(f"Making {job.name} failed: {job.error}", error=True)
        else:
            self.message(f"Making {job.name} cancelled")

    def _refused(self, entry: CharacterEntry) -> None:
        """A broken bundle is not loaded: the character on screen stays, and so does its highlight."""
        self.message(f"{entry.name} cannot be used: {entry.problem}", error=True)
        if self.shown is None:
            self.gallery.blockSignals(True)
            self.gallery.setCurrentRow(-1)
            self.gallery.blockSignals(False)
        self._select_shown()

    def message(self, text: str, error: bool = False) -> None:
        self.statusBar().setStyleSheet("color: #c33;" if error else "")
        self.statusBar().showMessage(text, 8000)
        if error:
            log.warning(text)

    # ---- Qt events ----------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_camera()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._place_camera()

    def _place_camera(self, aspect: float | None = None) -> None:
        """The camera picture in the lower right corner of the character, a quarter as wide."""
        self._camera_aspect = aspect or self._camera_aspect
        w = max(self.view.width() // 4, 120)
        h = int(w / self._camera_aspect)
        self.camera_view.setGeometry(self.view.width() - w - 8, self.view.height() - h - 8, w, h)

    def closeEvent(self, event) -> None:
        self._save()
        self.timer.stop()
        self.loader.close()
        self.gallery.cancel_jobs()
        self.stop_pipeline()
        self._close_virtual_camera()
        super().closeEvent(event)
