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
from dataclasses import dataclass, field, replace
from pathlib import Path

from puppet.assets import demo_characters
from puppet.bundle import SUFFIX, BundleError, read_bundle, read_head
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
    thumbnail: bytes | None = field(default=None, repr=False)  # PNG, of a listed bundle without a problem


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
    """Demo characters, then the user's; a user file with a demo's name is listed as well. Only
    each bundle's manifest and thumbnail are read and checked (its ``problem`` says what is wrong
    with them): the graphs, tens of MB, are read and checked when the character is loaded."""
    return [_examined(e) for e in _character_files()]


def _examined(entry: CharacterEntry) -> CharacterEntry:
    try:
        head = read_head(entry.path)
    except BundleError as e:
        # The reader's message without the path, which is listed beside it.
        return replace(entry, problem=str(e).removeprefix(f"{entry.path}: "))
    return replace(entry, thumbnail=head.thumbnail)


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
