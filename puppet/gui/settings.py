"""Settings remembered between runs (QSettings). ``PUPPET_SETTINGS`` names an INI file to use
instead of the platform's place: tests and portable installs set it."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

SETTINGS_ENV = "PUPPET_SETTINGS"


def open_settings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("puppet", "puppet")
