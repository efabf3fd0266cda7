"""The character library lists broken bundles as broken, with the reason, in the API and in
``puppet characters``; a file that is mended is listed as usable again; listing reads no graph."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from puppet.bundle import GRAPH, GRAPH_FP16, THUMBNAIL, BundleError
from puppet.cli import main
from puppet.engine import Engine
from puppet.library import list_characters, user_characters_dir


@pytest.fixture
def library(tmp_path, monkeypatch, tiny_bundle) -> Path:
    """A user library with one good bundle, one truncated, one that is no zip and one whose
    thumbnail does not match its checksum."""
    monkeypatch.setenv("PUPPET_DATA_DIR", str(tmp_path / "data"))
    folder = user_characters_dir()
    folder.mkdir(parents=True)
    good = Path(tiny_bundle).read_bytes()
    (folder / "good.puppet").write_bytes(good)
    (folder / "truncated.puppet").write_bytes(good[: len(good) // 2])
    (folder / "text.puppet").write_text("not a bundle")
    with zipfile.ZipFile(tiny_bundle) as src, zipfile.ZipFile(folder / "tampered.puppet", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name) + (b"\0" if name == THUMBNAIL else b""))
    return folder


def _user_entries():
    return {e.name: e for e in list_characters() if e.origin == "user"}


def test_broken_bundles_are_listed_with_the_reason(library):
    entries = _user_entries()
    assert set(entries) == {"good", "truncated", "text", "tampered"}
    assert entries["good"].problem is None
    assert "truncated" in entries["truncated"].problem
    assert "not a character bundle" in entries["text"].problem
    assert THUMBNAIL in entries["tampered"].problem and "checksum" in entries["tampered"].problem
    # The reason is what is wrong; the path is listed beside it already.
    assert all(str(library) not in e.problem for e in entries.values() if e.problem)
    assert all(e.problem is None for e in list_characters() if e.origin == "demo")


def test_listing_reads_manifests_and_thumbnails_not_graphs(library, monkeypatch):
    """The graphs (tens of MB each) are read when a character is loaded, not when it is listed:
    a graph spoilt on disk shows when loading it, with the file's name."""
    opened = []
    real = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    with zipfile.ZipFile(library / "good.puppet") as src, zipfile.ZipFile(library / "spoilt.puppet", "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name) + (b"\0" if name == GRAPH else b""))
    opened.clear()
    entries = _user_entries()
    assert opened and not {GRAPH, GRAPH_FP16} & set(opened)
    assert entries["spoilt"].problem is None and entries["spoilt"].thumbnail.startswith(b"\x89PNG")
    with pytest.raises(BundleError, match=f"spoilt.puppet: {GRAPH} is corrupt"):
        Engine.load(entries["spoilt"].path)


def test_a_mended_bundle_is_usable_again(library):
    assert _user_entries()["truncated"].problem is not None
    shutil.copyfile(library / "good.puppet", library / "truncated.puppet")
    assert _user_entries()["truncated"].problem is None


def test_puppet_characters_marks_the_broken_ones(library, capsys):
    assert main(["characters"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "BROKEN" not in lines["good"] and str(library / "good.puppet") in lines["good"]
    for name in ("truncated", "text", "tampered"):
        assert f"BROKEN: {_user_entries()[name].problem}" in lines[name]
        assert str(library / f"{name}.puppet") in lines[name]
