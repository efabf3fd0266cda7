"""Frames of another shape than the virtual camera's are letterboxed into it, not stretched."""

from __future__ import annotations

import sys
import types

import numpy as np

from puppet.virtual_camera import VirtualCamera, letterbox


def test_a_wider_frame_is_scaled_to_fit_and_centred_on_black():
    frame = np.full((64, 128, 3), 200, np.uint8)  # side by side: twice as wide as the device
    out = letterbox(frame, (64, 64))
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out[16:48] == 200).all()  # the picture at half size, whole width
    assert (out[:16] == 0).all() and (out[48:] == 0).all()  # black bars above and below


def test_a_taller_frame_gets_bars_at_the_sides_and_its_own_size_is_kept():
    frame = np.full((60, 20, 3), 90, np.uint8)
    out = letterbox(frame, (90, 30))
    assert (out[:, 40:50] == 90).all() and (out[:, :40] == 0).all() and (out[:, 50:] == 0).all()
    assert letterbox(frame, (20, 60)) is frame


def test_the_device_keeps_its_size_and_gets_letterboxed_frames(monkeypatch):
    sent = []
    module = types.ModuleType("pyvirtualcam")
    module.Camera = lambda width, height, fps: types.SimpleNamespace(device="/dev/video9", send=sent.append)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", module)
    cam = VirtualCamera()
    square = np.full((32, 32, 4), 255, np.uint8)
    cam.send(square)
    cam.send(np.concatenate([square, square], 1))
    assert cam.size == (32, 32) and [f.shape for f in sent] == [(32, 32, 3)] * 2
    assert (sent[1][8:24] == 255).all() and (sent[1][:8] == 0).all() and (sent[1][24:] == 0).all()
