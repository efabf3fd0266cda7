"""Entry point of the desktop program."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from PySide6.QtWidgets import QApplication

from .main_window import MainWindow


def qt_environment() -> None:
    """Undo OpenCV's Qt settings: opencv-contrib-python (which mediapipe requires) points
    QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt build's plugins when cv2 is imported, and PySide6
    then fails to load its platform plugin ("could not load the Qt platform plugin xcb")."""
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if "cv2" in os.environ.get(name, ""):
            del os.environ[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="puppet", description="Drive a drawn character with your face.")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv or [])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    qt_environment()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("puppet")
    window = MainWindow()
    window.show()
    return app.exec()
