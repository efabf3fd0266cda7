"""Character bundles: written atomically, validated on reading, runnable by onnxruntime."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import onnxruntime as ort
import pytest

from puppet.bundle import (
    GRAPH,
    MANIFEST,
    THUMBNAIL,
    BundleError,
    Manifest,
    read_bundle,
    read_head,
    write_bundle,
)


def test_bundle_contents(tiny_bundle):
    b = read_bundle(tiny_bundle)
    m = b.manifest
    assert (m.name, m.base_preset, m.driver_resolution, m.output_resolution, m.driving_mode) == \
        ("tiny-proxy", "tiny", 32, 32, "proxy")
    assert m.num_source_images == 2 and m.format_version == 2 and m.created
    assert set(m.members) == {"character.onnx", "character.fp16.onnx", "thumbnail.png"}
    assert b.thumbnail.startswith(b"\x89PNG")
    sess = ort.InferenceSession(b.graph, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    rgb, mask, pose = sess.run(["rgb", "mask", "pose"], {"driver": x})
    assert rgb.shape == (2, 3, 32, 32) and mask.shape == (2, 1, 32, 32) and pose.shape == (2, m.pose_dim)
    assert 0 <= mask.min() and mask.max() <= 1
    half = ort.InferenceSession(b.graph_fp16, providers=["CPUExecutionProvider"])
    assert np.abs(half.run(["mask"], {"driver": x})[0] - mask).max() < 0.05


def _rewrite(src, dst, member, data):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename == member else zin.read(item.filename))


def test_corrupt_member_detected(tiny_bundle, tmp_path):
    bad = tmp_path / "bad.puppet"
    blob = bytearray(zipfile.ZipFile(tiny_bundle).read(GRAPH))
    blob[len(blob) // 2] ^= 0xFF
    _rewrite(tiny_bundle, bad, GRAPH, bytes(blob))
    with pytest.raises(BundleError, match="bad.puppet.*character.onnx is corrupt"):
        read_bundle(bad)


def test_truncated_and_foreign_files(tiny_bundle, tmp_path):
    cut = tmp_path / "cut.puppet"
    cut.write_bytes(tiny_bundle.read_bytes()[: tiny_bundle.stat().st_size // 2])
    with pytest.raises(BundleError, match="cut.puppet"):
        read_bundle(cut)
    text = tmp_path / "notes.puppet"
    text.write_text("hello")
    with pytest.raises(BundleError, match="not a character bundle"):
        read_bundle(text)
    with pytest.raises(BundleError, match="no such"):
        read_bundle(tmp_path / "missing.puppet")


def test_bad_manifest(tiny_bundle, tmp_path):
    bad = tmp_path / "mode.puppet"
    m = zipfile.ZipFile(tiny_bundle).read(MANIFEST).decode().replace('"proxy"', '"telepathy"')
    _rewrite(tiny_bundle, bad, MANIFEST, m.encode())
    with pytest.raises(BundleError, match="driving_mode 'telepathy'"):
        read_bundle(bad)
    newer = tmp_path / "newer.puppet"
    m = zipfile.ZipFile(tiny_bundle).read(MANIFEST).decode().replace('"format_version": 2', '"format_version": 99')
    _rewrite(tiny_bundle, newer, MANIFEST, m.encode())
    with pytest.raises(BundleError, match="newer"):
        read_bundle(newer)


def test_the_head_is_the_manifest_and_thumbnail_checked_like_the_whole(tiny_bundle, tmp_path):
    whole, head = read_bundle(tiny_bundle), read_head(tiny_bundle)
    assert (head.path, head.manifest, head.thumbnail) == (whole.path, whole.manifest, whole.thumbnail)
    # Members the manifest gives no checksum for, or no list of checksums: a clear error from
    # both readers (a listing of the library must not crash on them).
    raw = json.loads(zipfile.ZipFile(tiny_bundle).read(MANIFEST))
    for name, members in (("unsummed.puppet", {GRAPH: raw["members"][GRAPH]}), ("listed.puppet", [GRAPH])):
        bad = tmp_path / name
        _rewrite(tiny_bundle, bad, MANIFEST, json.dumps({**raw, "members": members}).encode())
        for read in (read_bundle, read_head):
            with pytest.raises(BundleError, match=name):
                read(bad)
    thumb = tmp_path / "thumb.puppet"
    _rewrite(tiny_bundle, thumb, THUMBNAIL, b"not the thumbnail")
    with pytest.raises(BundleError, match=f"thumb.puppet: {THUMBNAIL} is corrupt"):
        read_head(thumb)


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    manifest = Manifest(name="x", base_preset="tiny", driver_resolution=32, output_resolution=32, driving_mode="face",
                        pose_dim=4, num_source_images=1, created="now")
    target = tmp_path / "x.puppet"

    def boom(self, name, data, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", boom)
    with pytest.raises(OSError):
        write_bundle(target, manifest, b"graph", b"png")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_keeps_old_bundle_until_new_one_is_complete(tiny_bundle, tmp_path, monkeypatch):
    target = tmp_path / "keep.puppet"
    shutil.copy(tiny_bundle, target)
    before = target.read_bytes()
    manifest = read_bundle(target).manifest
    real = zipfile.ZipFile.writestr
    calls = []

    def fail_late(self, name, data, *a, **k):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, name, data, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_late)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(target, manifest, b"g", b"t", graph_fp16=b"h")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.puppet"]


def test_bundles_and_imported_copies_are_readable_by_everyone(tiny_bundle, tmp_path, monkeypatch):
    import os
    import stat

    from puppet.library import import_character

    b = read_bundle(tiny_bundle)
    written = write_bundle(tmp_path / "shared.puppet", b.manifest, b.graph, b.thumbnail)
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    os.chmod(written, 0o600)  # a private file (as earlier versions wrote them) ...
    monkeypatch.setenv("PUPPET_DATA_DIR", str(tmp_path / "data"))
    imported = import_character(written)
    assert stat.S_IMODE(imported.path.stat().st_mode) == 0o644  # ... is imported as an ordinary one
    assert imported.path.read_bytes() == written.read_bytes()


def test_bundles_of_the_first_format_are_refused_with_a_word_to_rebuild(tiny_bundle, tmp_path):
    """Format 1 had one resolution (and declared the input encoding, ``input_range`` and
    ``color_order``, which only ever was the contract's RGB in [0,1])."""
    raw = json.loads(zipfile.ZipFile(tiny_bundle).read(MANIFEST))
    raw.pop("driver_resolution"), raw.pop("output_resolution")
    raw.update(format_version=1, resolution=32, input_range=[0.0, 1.0], color_order="RGB")
    old = tmp_path / "old.puppet"
    _rewrite(tiny_bundle, old, MANIFEST, json.dumps(raw).encode())
    with pytest.raises(BundleError, match="old.puppet.*format 1.*rebuild"):
        read_bundle(old)
    m = Manifest(name="x", base_preset="tiny", driver_resolution=32, output_resolution=32, driving_mode="face",
                 pose_dim=4, num_source_images=1, created="now")
    assert not {"input_range", "color_order", "resolution"} & set(json.loads(m.to_json()))