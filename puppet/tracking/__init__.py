"""Face tracking: stable crops for ``face`` mode and expression parameters for ``proxy`` mode.

MediaPipe's face mesh (478 refined landmarks; models from the pinned wheel) in tracking mode.
Live side: no torch, no Qt.
"""

from .bench import measure_track_ms
from .crop import Box, Square, as_rgb, crop_face, crop_square, face_square
from .expression import ExpressionConfig
from .filters import OneEuro, OneEuroConfig
from .still import detect_face_box, estimate_params
from .tracker import FaceTracker, TrackerConfig, TrackResult

__all__ = ["Box", "ExpressionConfig", "FaceTracker", "OneEuro", "OneEuroConfig", "Square", "TrackResult",
           "TrackerConfig", "as_rgb", "crop_face", "crop_square", "detect_face_box", "estimate_params",
           "face_square", "measure_track_ms"]
