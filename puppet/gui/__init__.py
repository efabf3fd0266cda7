"""The desktop program (PySide6). ``run(argv)`` opens the main window; Qt is imported only then,
so ``import puppet.gui`` stays light."""

from __future__ import annotations


def run(argv: list[str] | None = None) -> int:
    from .app import main

    return main(argv)
