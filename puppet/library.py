"""The character library: demo characters shipped in ``assets/`` and the user's own imports.

The user library is a folder of ``.puppet`` files in the platform's data directory
(``platformdirs.user_data_dir("puppet")/characters``); the environment variable
``PUPPET_DATA_DIR`` replaces that data directory (tests and portable installs use it).

Public API::

    user_characters_dir() -> Path
    list_characters() -> list[CharacterEntry]          # demo first, then user, by name
    resolve_character(spec: str | Path) -> Path        # a library name or a path to a .puppet
    import_character(path: str | Path, overwrite: bool = False) -> CharacterEntry
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from puppet.assets import demo_characters
from puppet.bundle import SUFFIX, BundleError, read_bundle

DATA_DIR_ENV = "PUPPET_DATA_DIR"


class LibraryError(ValueError):
    """A character name or file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CharacterEntry:
    name: str  # the file stem: what ``--character`` accepts
    path: Path
    origin: str  # "demo" | "user"


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("puppet", appauthor=False))


def user_characters_dir() -> Path:
    return data_dir() / "characters"


def list_characters() -> list[CharacterEntry]:
    """Demo characters, then the user's; a user file with a demo's name is listed as well."""
    entries = [CharacterEntry(p.stem, p, "demo") for p in demo_characters()]
    user = user_characters_dir()
    if user.is_dir():
        entries += [CharacterEntry(p.stem, p, "user") for p in sorted(user.glob(f"*{SUFFIX}"))]
    return entries


def resolve_character(spec: str | os.PathLike) -> Path:
    """A path to an existing file, or the name of a library character (user entries win)."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.suffix == SUFFIX or os.sep in str(spec):
        raise LibraryError(f"{path}: no such character file")
    matches = [e for e in list_characters() if e.name == str(spec)]
    if not matches:
        known = ", ".join(sorted({e.name for e in list_characters()})) or "none"
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
        dest_dir.mkdir(parents=True, exist_ok=True)
        # Copy next to the destination, then rename: an interrupted import leaves no half bundle.
        fd, tmp = tempfile.mkstemp(prefix=f".{src.stem}.", suffix=".partial", dir=dest_dir)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as e:
        raise LibraryError(f"{dest}: cannot copy character into the library ({e.strerror or e})") from None
    return CharacterEntry(dest.stem, dest, "user")
