"""The 3-D head and its camera: an ellipsoid face (narrowed towards the chin) seen under a pose.

Features are flat shapes laid on the face surface in local frames, so yaw and pitch move and
foreshorten them as on a curved face.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from puppet import params as P

from .identity import Identity

UNIT = 0.245  # face half-height as a fraction of the image side, at scale 1
CENTRE = (0.5, 0.42)  # head centre at rest, fractions of the image side
MAX_YAW = 60.0  # a three-quarter identity turned further still stops here, before it shows its back


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Head rotation (x right, y down, z towards the viewer): + yaw moves the face to screen
    right, + pitch lifts the chin."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rx @ ry


@lru_cache(maxsize=4096)
def surface(ident: Identity, scale_xyz: tuple[float, float, float], n_a: int = 20, n_e: int = 10,
            e_min: float = -1.45) -> np.ndarray:
    """[n,3] sample points of the (chin-narrowed) head ellipsoid, for silhouettes by convex hull."""
    a = np.linspace(-np.pi, np.pi, n_a, endpoint=False)
    e = np.linspace(e_min, 1.5, n_e)
    aa, ee = np.meshgrid(a, e)  # [n_e, n_a] each
    pts = ellipsoid(ident, aa.ravel(), ee.ravel(), scale_xyz)
    pts.setflags(write=False)
    return pts


def ellipsoid(ident: Identity, a, e, scale_xyz=(1.0, 1.0, 1.0)) -> np.ndarray:
    a, e = np.asarray(a, float), np.asarray(e, float)
    sx, sy, sz = scale_xyz
    x = ident.face_width * sx * np.cos(e) * np.sin(a)
    y = -sy * np.sin(e)
    z = ident.face_depth * sz * np.cos(e) * np.cos(a)
    x = x * (1 - ident.chin * np.clip(y, 0, 1) ** 2)
    return np.stack([x, y, z], axis=-1)


class Frame:
    """A local (u right, v up) frame laid on the face surface at azimuth a, elevation e."""

    def __init__(self, ident: Identity, a: float, e: float):
        d = 1e-3
        self.origin = ellipsoid(ident, a, e)
        tu = ellipsoid(ident, a + d, e) - self.origin
        tv = ellipsoid(ident, a, e + d) - self.origin
        self.u = tu / np.linalg.norm(tu)
        self.v = tv / np.linalg.norm(tv)
        self.normal = np.cross(self.v, self.u)

    def to3d(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, float).reshape(-1, 2)
        return self.origin + uv[:, :1] * self.u + uv[:, 1:] * self.v


class Camera:
    """Maps head coordinates to pixels for one set of pose parameters."""

    def __init__(self, ident: Identity, p: np.ndarray, size: int):
        yaw = p[P.INDEX["yaw"]]
        if ident.style.yaw:  # classic heads keep the parameter's own float32 arithmetic
            yaw = float(np.clip(yaw + ident.style.yaw, -MAX_YAW, MAX_YAW))
        self.rot = rotation(yaw, p[P.INDEX["pitch"]])
        roll = np.radians(p[P.INDEX["roll"]])
        c, s = np.cos(roll), np.sin(roll)
        k = UNIT * size * p[P.INDEX["scale"]] * ident.head_size
        self.lin = np.array([[c, -s], [s, c]]) * k  # roll (clockwise on screen, y down) and scale
        self.body_k = UNIT * size * p[P.INDEX["scale"]]
        self.centre = np.array([(CENTRE[0] + p[P.INDEX["offset_x"]]) * size,
                                (CENTRE[1] + p[P.INDEX["offset_y"]]) * size])

    def project(self, pts3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n,3] -> ([n,2] pixels, [n] depth towards the viewer)."""
        r = pts3 @ self.rot.T
        return r[:, :2] @ self.lin.T + self.centre, r[:, 2]

    def facing(self, normal: np.ndarray) -> float:
        return float((self.rot @ normal)[2])

    def body(self, pts2: np.ndarray) -> np.ndarray:
        """Body shapes follow the head's offset and scale but not its rotation."""
        return np.asarray(pts2, float) * self.body_k + self.centre

    def on_face(self, frame: Frame, uv) -> np.ndarray:
        """[n,2] pixels of points given in a face frame's (u, v) coordinates."""
        return self.project(frame.to3d(uv))[0]
