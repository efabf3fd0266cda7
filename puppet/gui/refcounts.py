"""Keep None, True and False alive under PySide6 6.12 on Python 3.11.

Its abi3 wheels drop one reference to None (and, in some calls, to True or False) on each call
of a method that returns nothing, as if those objects were immortal, which they are only from
Python 3.12 on. A window that paints a few thousand times brings None's count to zero and the
interpreter aborts ("none_dealloc: deallocating None"). Adding a large count once makes them
as good as immortal, which is what 3.12 does anyway.
"""

from __future__ import annotations

import ctypes
import sys

_ENOUGH = 1 << 48  # a million calls a second for eight years


def pin_singletons() -> None:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        count = ctypes.c_ssize_t.from_address(id(obj))
        if count.value < _ENOUGH:
            count.value += _ENOUGH
