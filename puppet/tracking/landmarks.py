"""MediaPipe face mesh (478 refined landmarks) with the models that ship inside its wheel."""

from __future__ import annotations

import numpy as np

from .native_log import quiet_for

# Landmark indices of the face mesh. "l"/"r" are on screen (image) left/right.
EYE_L = {"outer": 33, "inner": 133, "top": (159, 158), "bottom": (145, 153)}
EYE_R = {"outer": 263, "inner": 362, "top": (386, 385), "bottom": (374, 380)}
IRIS_CENTRES = (468, 473)
BROW_L = (105, 66, 65, 52)
BROW_R = (334, 296, 295, 282)
LIP_TOP, LIP_BOTTOM = 13, 14
MOUTH_L, MOUTH_R = 61, 291
# Points that move with the skull but not with expressions: nose bridge, forehead, eye corners,
# cheeks. Head rotation is fitted on these.
RIGID = (1, 4, 5, 6, 8, 9, 10, 151, 168, 195, 197, 33, 133, 263, 362, 127, 356, 234, 454, 93, 323)


class FaceMesh:
    """Per frame: a list of [478, 3] landmark arrays in pixels (z scaled like x, towards the
    camera negative, as MediaPipe gives it)."""

    def __init__(self, static: bool = False, max_faces: int = 2, min_detection: float = 0.5,
                 min_tracking: float = 0.5):
        import mediapipe as mp

        quiet_for()  # the graph's native start-up lines: see native_log
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_detection, min_tracking_confidence=min_tracking)
        self._found_face = False  # more such lines come with the graph's first face

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        if not self._found_face:
            quiet_for()
        result = self._mesh.process(rgb)
        self._found_face = self._found_face or bool(result.multi_face_landmarks)
        faces = []
        for face in result.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32)  # [478, 3] normalised
            faces.append(pts * np.array([w, h, w], np.float32))
        return faces

    def close(self) -> None:
        quiet_for()
        self._mesh.close()
