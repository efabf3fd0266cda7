"""The desktop program (PySide6). ``run(argv)`` opens the main window; Qt is imported only then,
so ``import puppet.gui`` stays light."""

from __future__ import annotations

from .refcounts import pin_singletons

# Before any Qt call: every module of this package that uses Qt is imported after this line.
pin_singletons()


def run(argv: list[str] | None = None) -> int:
    from .app import main

    return main(argv)
