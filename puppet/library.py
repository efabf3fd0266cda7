"""The character library: demo characters shipped in ``assets/`` and the user's own imports.

The user library is a folder of ``.puppet`` files in the platform's data directory
(``platformdirs.user_data_dir("puppet")/characters``); the environment variable
``PUPPET_DATA_DIR`` replaces that data directory (tests and portable installs use it).

Public API::

    user_characters_dir() -> Path
    list_characters() -> list[CharacterEntry]          # demo first, then user, by name; broken ones say why
    resolve_character(spec: str | Path) -> Path        # a library name or a path to a .puppet
    import_character(path: str | Path, overwrite: bool = False) -> CharacterEntry
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from puppet.assets import demo_characters
from puppet.bundle import SUFFIX, BundleError, read_bundle
from puppet.files import atomic_write

DATA_DIR_ENV = "PUPPET_DATA_DIR"


class LibraryError(ValueError):
    """A character name or file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CharacterEntry:
    name: str  # the file stem: what ``--character`` accepts
    path: Path
    origin: str  # "demo" | "user"
    problem: str | None = None  # why the bundle cannot be used (broken, truncated...), else None


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("puppet", appauthor=False))


def user_characters_dir() -> Path:
    return data_dir() / "characters"


def _character_files() -> list[CharacterEntry]:
    entries = [CharacterEntry(p.stem, p, "demo") for p in demo_characters()]
    user = user_characters_dir()
    if user.is_dir():
        entries += [CharacterEntry(p.stem, p, "user") for p in sorted(user.glob(f"*{SUFFIX}"))]
    return entries


def list_characters() -> list[CharacterEntry]:
    """Demo characters, then the user's; a user file with a demo's name is listed as well. Each
    bundle is validated as loading it would (its ``problem`` says what is wrong)."""
    return [replace(e, problem=bundle_problem(e.path)) for e in _character_files()]


def bundle_problem(path: Path) -> str | None:
    """What makes a bundle unusable, without its path (the reader's message), or None."""
    try:
        stat = path.stat()
    except OSError as e:
        return f"cannot read the file ({e.strerror or e})"
    return _checked(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _checked(path: Path, size: int, mtime_ns: int) -> str | None:
    """A full read checks every member's checksum: done once per version of a file (size and
    mtime are part of the key), not on every listing."""
    try:
        read_bundle(path)
    except BundleError as e:
        return str(e).removeprefix(f"{path}: ")
    return None


def resolve_character(spec: str | os.PathLike) -> Path:
    """A path to an existing file, or the name of a library character (user entries win)."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.suffix == SUFFIX or os.sep in str(spec):
        raise LibraryError(f"{path}: no such character file")
    # Not validated here: loading the chosen file reports what is wrong with it.
    matches = [e for e in _character_files() if e.name == str(spec)]
    if not matches:
        known = ", ".join(sorted({e.name for e in _character_files()})) or "none"
        raise LibraryError(f"{spec}: no character of that name (known: {known})")
    user = [e for e in matches if e.origin == "user"]
    return (user or matches)[0].path


def import_character(path: str | os.PathLike, overwrite: bool = False) -> CharacterEntry:
    """Validate a bundle fully, then copy it into the user library under its file name."""
    src = Path(path)
    if src.suffix != SUFFIX:
        raise LibraryError(f"{src}: a character bundle must end in {SUFFIX}")
    try:
        read_bundle(src)
    except BundleError as e:
        raise LibraryError(str(e)) from None
    dest_dir = user_characters_dir()
    dest = dest_dir / src.name
    if dest.exists() and not overwrite:
        raise LibraryError(f"{dest}: a character of that name is already in the library")
    try:
        # An interrupted import leaves no half bundle; the copy gets the usual 0644, not the source's mode.
        atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))
    except OSError as e:
        raise LibraryError(f"{dest}: cannot copy character into the library ({e.strerror or e})") from None
    return CharacterEntry(dest.stem, dest, "user")
