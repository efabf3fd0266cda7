"""The main window's behaviour around the pipeline: characters load off the interface thread
(the newest request wins, each is read once, a broken one keeps the character on screen, the
CPU-fallback notice is shown once), the slider panel scrolls under the wheel, slider mode shows
the proxy head, the recordings folder and the virtual camera say what they cannot do, and
probing cameras keeps OpenCV quiet."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from test_gui import _wait_frames, window  # noqa: E402,F401  (the window fixture)


def _row(w, name: str) -> int:
    return [e.name for e in w.gallery.entries].index(name)


def _copies(w, bundle, folder, *names: str) -> None:
    """More proxy characters in the library (copies of the tiny one under other names)."""
    from puppet.library import import_character

    for name in names:
        shutil.copy(bundle, folder / f"{name}.puppet")
        import_character(folder / f"{name}.puppet")
    w.gallery.refresh()


def _on_screen(w, name: str) -> bool:
    """Whether the running pipeline draws the library character ``name`` (copies of one bundle
    share its manifest name, so the file tells them apart)."""
    return (w.pipeline is not None and w.pipeline.engine.bundle.path == w.gallery.entries[_row(w, name)].path
            and w.shown.name == name)


def _running(qtbot, w, name: str, source: str = "sliders") -> None:
    """The window running ``name`` from ``source``, its frames arriving, no load under way."""
    w.controls.source.setCurrentText(source)
    w.select_row(_row(w, name))
    qtbot.waitUntil(lambda: not w.loader.busy and _on_screen(w, name), timeout=30000)
    _wait_frames(qtbot, w)


class GatedLoads:
    """Engine.load held at a gate, recording which thread loads which file."""

    def __init__(self, monkeypatch):
        from puppet.engine import Engine

        self.calls: list[tuple[str, threading.Thread]] = []
        self.gate = threading.Event()
        real = Engine.load

        def load(source, config=None):
            self.calls.append((str(source), threading.current_thread()))
            assert self.gate.wait(30)
            return real(source, config)

        monkeypatch.setattr(Engine, "load", load)


def test_a_character_loads_off_the_gui_thread_while_the_window_stays_live(qtbot, window, monkeypatch,
                                                                          tiny_bundle, tmp_path):
    from PySide6.QtCore import Qt, QTimer

    w = window
    _copies(w, tiny_bundle, tmp_path, "second")
    _running(qtbot, w, "tiny-proxy")
    loads = GatedLoads(monkeypatch)
    first_pipeline = w.pipeline
    w.select_row(_row(w, "second"))
    qtbot.waitUntil(lambda: len(loads.calls) == 1, timeout=10000)
    # The load is held: the interface thread still runs timers and paints the old character.
    assert w.loader.busy and w.view.cursor().shape() == Qt.CursorShape.BusyCursor
    assert "Loading" in w.statusBar().currentMessage()
    ticked = []
    QTimer.singleShot(0, lambda: ticked.append(1))
    seen = []
    w.bridge.frame.connect(lambda: seen.append(1))
    qtbot.waitUntil(lambda: bool(ticked) and len(seen) >= 2, timeout=10000)
    assert _on_screen(w, "tiny-proxy") and w.pipeline is first_pipeline
    loads.gate.set()
    qtbot.waitUntil(lambda: not w.loader.busy, timeout=30000)
    assert _on_screen(w, "second") and w.pipeline is first_pipeline  # swapped into the running pipeline
    assert loads.calls[0][1] is not threading.main_thread()
    assert w.view.cursor().shape() != Qt.CursorShape.BusyCursor
    assert "Loading" not in w.statusBar().currentMessage()


def test_the_newest_character_request_wins(qtbot, window, monkeypatch, tiny_bundle, tmp_path):
    w = window
    _copies(w, tiny_bundle, tmp_path, "second", "third")
    _running(qtbot, w, "tiny-proxy")
    applied = []
    w.loader.loaded.connect(lambda engine, entry: applied.append((entry.name, threading.current_thread())))
    loads = GatedLoads(monkeypatch)
    w.select_row(_row(w, "second"))
    qtbot.waitUntil(lambda: len(loads.calls) == 1, timeout=10000)  # "second" is being loaded
    w.select_row(_row(w, "third"))  # asked for before "second" is done
    loads.gate.set()
    qtbot.waitUntil(lambda: not w.loader.busy, timeout=30000)
    assert [p.rsplit("/", 1)[-1] for p, _ in loads.calls] == ["second.puppet", "third.puppet"]
    assert applied == [("third", threading.main_thread())]  # only the newest, on the GUI thread
    assert _on_screen(w, "third")


def test_a_character_is_read_once_however_often_the_source_changes_meanwhile(qtbot, window, monkeypatch,
                                                                           tiny_bundle, tmp_path):
    w = window
    _copies(w, tiny_bundle, tmp_path, "second")
    _running(qtbot, w, "tiny-proxy")
    loads = GatedLoads(monkeypatch)
    w.set_character(w.shown)  # the one on screen: nothing to load
    assert not w.loader.busy and loads.calls == []
    w.select_row(_row(w, "second"))
    qtbot.waitUntil(lambda: len(loads.calls) == 1, timeout=10000)
    w.controls.source.setCurrentText("demo clip")  # each change restarts the pipeline
    w.controls.source.setCurrentText("sliders")
    loads.gate.set()
    qtbot.waitUntil(lambda: not w.loader.busy, timeout=30000)
    assert [p.rsplit("/", 1)[-1] for p, _ in loads.calls] == ["second.puppet"]
    _wait_frames(qtbot, w)
    assert _on_screen(w, "second")
    # Chosen again while another loads: that load is dropped, and the status bar says so.
    loads.gate.clear()
    w.select_row(_row(w, "tiny-proxy"))
    qtbot.waitUntil(lambda: len(loads.calls) == 2, timeout=10000)
    assert "Loading" in w.statusBar().currentMessage()
    w.set_character(w.shown)
    assert not w.loader.busy and w.statusBar().currentMessage() == "second"
    loads.gate.set()  # the dropped load ends; what it read is not shown
    qtbot.wait(500)
    assert _on_screen(w, "second")


def test_the_cpu_fallback_notice_is_shown_once(qtbot, window, monkeypatch, tiny_bundle, tmp_path):
    from puppet.engine import Engine

    w = window
    _copies(w, tiny_bundle, tmp_path, "second", "third")
    _running(qtbot, w, "tiny-proxy")
    real = Engine.load
    notice = "running on the CPU: no GPU in this test"

    def load(source, config=None):
        engine = real(source, config)
        engine.notice = notice
        return engine

    monkeypatch.setattr(Engine, "load", load)
    w.select_row(_row(w, "second"))
    qtbot.waitUntil(lambda: not w.loader.busy and _on_screen(w, "second"), timeout=30000)
    assert w.statusBar().currentMessage() == notice
    w.select_row(_row(w, "third"))
    qtbot.waitUntil(lambda: not w.loader.busy and _on_screen(w, "third"), timeout=30000)
    assert w.statusBar().currentMessage() == "third"  # the user knows already


def test_a_bundle_that_fails_to_load_keeps_the_character_on_screen(qtbot, window, tiny_bundle, tmp_path):
    w = window
    _copies(w, tiny_bundle, tmp_path, "fragile")
    _running(qtbot, w, "tiny-proxy")
    fragile = w.gallery.entries[_row(w, "fragile")].path
    fragile.write_bytes(tiny_bundle.read_bytes()[:5000])  # cut off on disk after it was listed
    pipeline = w.pipeline
    w.select_row(_row(w, "fragile"))
    qtbot.waitUntil(lambda: not w.loader.busy, timeout=30000)
    assert str(fragile) in w.statusBar().currentMessage()
    assert w.pipeline is pipeline and pipeline.running and _on_screen(w, "tiny-proxy")
    assert w.current_character().name == "tiny-proxy"  # the highlight goes back to what is shown
    seen = []
    w.bridge.frame.connect(lambda: seen.append(1))
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=10000)
    assert w.last_result.character == "tiny-proxy"


def test_slider_mode_shows_the_proxy_head_in_the_inset(qtbot, window):
    w = window
    _running(qtbot, w, "tiny-proxy")
    r = w.last_result
    shown = w.camera_view.image
    assert shown is not None and (shown.width(), shown.height()) == (r.driver.shape[1], r.driver.shape[0])
    assert r.driver.std() > 10  # a drawn head, not the idle source's flat grey
    assert w.camera_view.width() == w.camera_view.height()  # placed square, like the head


def _wheel(widget, dy: int = -120) -> bool:
    """Turn the wheel over a widget; whether the widget took the event (one it ignores goes on to
    its parents, up to the scroll area, when it comes from a real mouse)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, dy),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_over_the_slider_panel_leaves_the_sliders_alone(qtbot, window):
    w = window
    w.controls.source.setCurrentText("sliders")
    qtbot.waitUntil(w.controls.sliders_box.isVisible, timeout=10000)
    sliders = w.controls.sliders._sliders
    before, gain = w.controls.sliders.values(), w.controls.gain.value()
    for s in (sliders[0], sliders[len(sliders) // 2], w.controls.gain, w.controls.smoothing):
        assert not _wheel(s)  # passed on to the panel
    assert np.array_equal(w.controls.sliders.values(), before) and w.controls.gain.value() == gain
    # A slider the user has clicked or tabbed to still answers the wheel.
    w.activateWindow()
    sliders[0].setFocus()
    qtbot.waitUntil(sliders[0].hasFocus, timeout=5000)
    value = sliders[0].value()
    assert _wheel(sliders[0], dy=120 if value < sliders[0].maximum() else -120)
    assert sliders[0].value() != value


class _Services:
    """QDesktopServices where nothing (or something) opens folders."""

    def __init__(self, opens: bool):
        self.opens, self.urls = opens, []

    def openUrl(self, url) -> bool:  # noqa: N802 (Qt's name)
        self.urls.append(url.toLocalFile())
        return self.opens


def test_the_recordings_folder_is_named_when_nothing_opens_it(qtbot, window, monkeypatch):
    import puppet.gui.main_window as mw

    w = window
    none = _Services(opens=False)
    monkeypatch.setattr(mw, "QDesktopServices", none)
    w.message("")
    w.controls.open_folder.click()
    assert none.urls == [str(w.recordings_dir)] and w.recordings_dir.is_dir()
    assert str(w.recordings_dir) in w.statusBar().currentMessage()
    some = _Services(opens=True)
    monkeypatch.setattr(mw, "QDesktopServices", some)
    w.message("")
    w.controls.open_folder.click()
    assert some.urls == [str(w.recordings_dir)] and w.statusBar().currentMessage() == ""


def _fake_pyvirtualcam(device: bool):
    """pyvirtualcam as installed on a machine with (or without) a virtual camera device."""
    module = types.ModuleType("pyvirtualcam")
    module.frames, module.closed = [], []

    class Camera:
        def __init__(self, width, height, fps, **_):
            if not device:
                raise RuntimeError("'v4l2loopback' backend: no device found")
            self.device, self.width, self.height = "/dev/video9", width, height

        def send(self, frame):
            assert frame.shape == (self.height, self.width, 3)
            module.frames.append(frame.copy())

        def close(self):
            module.closed.append(True)

    module.Camera = Camera
    return module


def _refused(w, reason: str) -> None:
    button = w.controls.virtual_camera
    assert not button.isChecked() and w.virtual_camera is None
    assert reason in button.toolTip() and reason in w.statusBar().currentMessage()


def test_the_virtual_camera_toggle_says_why_it_stays_off(qtbot, window, monkeypatch):
    w = window
    try:
        import pyvirtualcam  # noqa: F401
        reason = "no device"
    except ImportError:
        reason = "pyvirtualcam"
    w.controls.virtual_camera.click()
    if w.controls.virtual_camera.isChecked():
        pytest.skip("this machine has a virtual camera device")
    _refused(w, reason)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", _fake_pyvirtualcam(device=False))
    w.controls.virtual_camera.click()
    _refused(w, "no device")


def test_the_virtual_camera_gets_the_frames_shown(qtbot, window, monkeypatch):
    w = window
    cam = _fake_pyvirtualcam(device=True)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", cam)
    _running(qtbot, w, "tiny-proxy")
    w.controls.virtual_camera.click()
    assert w.controls.virtual_camera.isChecked() and "/dev/video9" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: len(cam.frames) >= 3, timeout=10000)
    assert np.array_equal(cam.frames[-1], w.last_result.image[..., :3])
    w.controls.virtual_camera.click()
    assert cam.closed == [True] and w.virtual_camera is None
    sent = len(cam.frames)
    _wait_frames(qtbot, w)
    assert len(cam.frames) == sent


def test_probing_cameras_keeps_opencv_quiet():
    code = ("import sys, cv2\n"
            "from puppet.gui.cameras import probe_cameras\n"
            "assert probe_cameras(range(90, 93)) == []\n"  # indices no machine has
            "assert cv2.getLogLevel() == 3, 'the log level is restored'\n"
            "print('-- probed --', file=sys.stderr, flush=True)\n"
            "cv2.VideoCapture(91)\n")  # the same open outside the probe: OpenCV warns
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-400:]
    during, after = run.stderr.split("-- probed --")
    assert during.strip() == "" and "WARN" in after
