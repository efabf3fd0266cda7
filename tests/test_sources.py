"""Source images of a character: the face crop it shares with the live side, and inputs that are
wrong in a quiet way (opaque alpha, too many images, grayscale, figures at different scales)
reported by name, on the shipped drawings and on images derived from them."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import ADVENTURER, ASSETS, DRAWN
from PIL import Image

from puppet import params as P
from puppet.base_file import driving_mode
from puppet.bundle import FACE_CROP_SCALE, Manifest
from puppet.heads import Identity, render_head
from puppet.sources import MAX_SOURCES, CropRule, SourceError, drawing_box, load_sources, read_image, recrop
from puppet.tracking import crop_face, detect_face_box, face_square

MINA = sorted(ADVENTURER.glob("mina_*.png"))
HEADS = sorted((ASSETS / "sources" / "procedural").glob("head1000004_*.png"))


def _derived(tmp_path: Path, source: Path, change) -> Path:
    """``source`` changed by ``change`` (a PIL image -> PIL image), saved as PNG under tmp_path."""
    out = tmp_path / f"{source.stem}_derived.png"
    with Image.open(source) as im:
        change(im.convert("RGBA")).save(out)
    return out


def _opaque(im: Image.Image) -> Image.Image:
    """The drawing over white, its alpha channel kept but opaque everywhere (as some editors export)."""
    flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
    flat.alpha_composite(im)
    return flat


def _shrunk(factor: float):
    """The figure scaled by ``factor`` about the centre of a transparent canvas of the same size."""
    def change(im: Image.Image) -> Image.Image:
        small = im.resize((round(im.width * factor), round(im.height * factor)), Image.LANCZOS)
        canvas = Image.new("RGBA", im.size, (0, 0, 0, 0))
        canvas.alpha_composite(small, ((im.width - small.width) // 2, (im.height - small.height) // 2))
        return canvas
    return change


def _naming(warnings: list[str], path: Path) -> list[str]:
    return [w for w in warnings if str(path) in w]


def test_shipped_drawings_and_heads_load_without_warnings():
    for paths in (MINA, HEADS, sorted(ADVENTURER.glob("seojun_*.png"))):
        sources = load_sources(paths, 64)
        assert sources.warnings == [], sources.warnings
        assert sources.mask_from_alpha == [True] * len(paths)


def test_a_face_in_a_source_is_cropped_as_the_live_side_crops_driver_frames():
    """One crop and one scale for both: the source crop of a face equals crop_face of the frame."""
    rgb, _ = read_image(HEADS[0])
    box = detect_face_box(rgb)
    assert box is not None
    source = load_sources([HEADS[0]], 96).images[0].transpose(1, 2, 0)  # [3,R,R] -> [R,R,3]
    live = crop_face(rgb, box, 96).astype(np.float32) / 255
    assert np.abs(source - live).max() < 1e-6
    assert Manifest.__dataclass_fields__["crop_scale"].default == FACE_CROP_SCALE
    assert inspect.signature(crop_face).parameters["scale"].default == FACE_CROP_SCALE


def test_a_subset_keeps_the_framing_of_the_set_it_was_chosen_from():
    """Face tracking finds the procedural head's face but not Mina's, so the pair is framed by
    each drawing's box; the head alone would be framed by its face."""
    pair = load_sources([HEADS[0], MINA[0]], 64)
    again = recrop(pair, [0], 64)
    assert again.paths == [HEADS[0]] and again.squares == pair.squares[:1]
    assert np.array_equal(again.images, pair.images[:1]) and np.array_equal(again.masks, pair.masks[:1])
    assert load_sources([HEADS[0]], 64).squares != pair.squares[:1]
    # The same box at twice the side: averaged down, it is the 64 px crop.
    large = recrop(pair, [0], 128).images.reshape(1, 3, 64, 2, 64, 2).mean((3, 5))
    assert np.abs(large - pair.images[:1]).mean() < 0.01


def _face_side(sources) -> list[float]:
    """The side of face tracking's box in each crop, the figure over grey."""
    pictures = sources.images * sources.masks + 0.5 * (1 - sources.masks)
    boxes = [detect_face_box((p.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)) for p in pictures]
    return [box[2] for box in boxes if box is not None]


def test_drawings_for_a_proxy_driven_base_are_framed_by_the_figure_at_the_proxys_scale():
    """Face tracking finds Jun's face in all her drawings, but its box of a cartoon face is small
    for the head: framed by it, her face fills the crop; framed by the figure, as the proxy's
    renders are, it comes out near the proxy's size."""
    jun = sorted((DRAWN / "micah").glob("Jun_*.png"))
    assert driving_mode(ASSETS / "base" / "toon.safetensors") == "proxy"
    by_face = load_sources(jun, 256, rule=CropRule.for_driving("face"))
    by_figure = load_sources(jun, 256, rule=CropRule.for_driving("proxy"))
    assert by_face.squares == [face_square(detect_face_box(read_image(p)[0])) for p in jun]
    assert by_figure.squares == [drawing_box(mask, CropRule()) for mask in (read_image(p)[1] / 255 for p in jun)]
    proxy = render_head(Identity.from_seed(0), P.neutral(), 256).rgb
    proxy_side = detect_face_box(proxy)[2]
    face_sides, figure_sides = _face_side(by_face), _face_side(by_figure)
    assert len(face_sides) == len(figure_sides) == len(jun)
    assert np.median(face_sides) / proxy_side > 1.4
    assert 0.75 < np.median(figure_sides) / proxy_side < 1.33


def test_a_base_file_that_is_none_is_named(tmp_path):
    with pytest.raises(ValueError, match=f"{MINA[0]}: not a readable base-model file"):
        driving_mode(MINA[0])
    with pytest.raises(ValueError, match="no-base.safetensors: not a readable base-model file"):
        driving_mode(tmp_path / "no-base.safetensors")


def test_an_opaque_alpha_channel_is_no_mask(tmp_path, caplog):
    opaque = _derived(tmp_path, MINA[0], _opaque)
    assert Image.open(opaque).mode == "RGBA" and read_image(opaque)[1].min() == 255
    with caplog.at_level(logging.WARNING, logger="puppet.sources"):
        got = load_sources([opaque, MINA[1]], 128)
    assert got.mask_from_alpha == [False, True]
    [warning] = _naming(got.warnings, opaque)
    assert "opaque" in warning and "estimated" in warning
    assert warning in caplog.text  # what the command line prints
    # The estimate finds the drawing that the true alpha outlines, not the whole square.
    truth = load_sources([MINA[0]], 128).masks[0, 0] > 0.5
    estimate = got.masks[0, 0] > 0.5
    assert estimate.mean() < 0.8
    assert (estimate & truth).sum() / (estimate | truth).sum() > 0.9


def test_more_than_sixteen_images_are_refused_with_the_reason():
    paths = sorted(ADVENTURER.glob("*_*.png"))[:MAX_SOURCES + 1]
    refusal = rf"{MAX_SOURCES + 1} images given; a character takes at most {MAX_SOURCES}"
    with pytest.raises(SourceError, match=refusal):
        load_sources(paths, 32)
    assert len(load_sources(paths[:MAX_SOURCES], 32).paths) == MAX_SOURCES


@pytest.mark.parametrize("mode", ["L", "LA", "RGB"])
def test_a_grayscale_source_is_named(tmp_path, mode):
    """Stored as gray, gray with alpha, or gray in RGB channels: all without colour."""
    gray = _derived(tmp_path, MINA[1], lambda im: im.convert("LA").convert(mode))
    got = load_sources([MINA[0], gray], 64)
    assert [w for w in got.warnings if "grayscale" in w] == _naming(got.warnings, gray)
    assert len(_naming(got.warnings, gray)) == 1 and _naming(got.warnings, MINA[0]) == []


def test_a_drawing_at_another_scale_is_named(tmp_path):
    small = _derived(tmp_path, MINA[3], _shrunk(0.6))
    paths = [*MINA[:3], small]
    got = load_sources(paths, 64)
    [warning] = [w for w in got.warnings if "scale" in w]
    assert "figure" in warning and str(small) in warning
    assert not any(str(p) in warning for p in MINA[:3])
    # Slightly smaller is fine; precropped sources are framed by the user.
    assert load_sources([*MINA[:3], _derived(tmp_path, MINA[3], _shrunk(0.8))], 64).warnings == []
    assert load_sources(paths, 64, precropped=True).warnings == []


def test_a_face_at_another_scale_is_named(tmp_path):
    small = _derived(tmp_path, HEADS[2], _shrunk(0.55))
    assert detect_face_box(read_image(small)[0]) is not None  # still cropped by its face
    got = load_sources([*HEADS[:2], small], 64)
    [warning] = got.warnings
    assert "face" in warning and str(small) in warning and str(HEADS[0]) not in warning


def test_the_review_page_shows_the_warnings(qtbot, tmp_path):
    from PySide6.QtWidgets import QLabel

    from puppet.gui.create_character import CreateCharacterDialog, NewCharacterConfig

    gray = _derived(tmp_path, MINA[1], lambda im: im.convert("LA"))
    opaque = _derived(tmp_path, MINA[2], _opaque)
    # No base model: the expression reader fails at once, which the page reports on its own.
    d = CreateCharacterDialog([MINA[0], gray, opaque], NewCharacterConfig(base=tmp_path / "none"), tmp_path)
    qtbot.addWidget(d)
    try:
        shown = "\n".join(label.text() for label in d.findChildren(QLabel))
        for warning in d.sources.warnings:
            assert warning in shown
        assert str(gray) in shown and str(opaque) in shown and str(MINA[0]) not in shown
    finally:
        d.reader.kill()
        d.reader.waitForFinished()
