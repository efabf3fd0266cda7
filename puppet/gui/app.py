"""Entry point of the desktop program."""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtWidgets import QApplication

from .main_window import MainWindow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="puppet", description="Drive a drawn character with your face.")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv or [])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("puppet")
    window = MainWindow()
    window.show()
    return app.exec()
