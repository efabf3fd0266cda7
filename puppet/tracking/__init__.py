"""Face tracking: stable crops for ``face`` mode and expression parameters for ``proxy`` mode.

MediaPipe's face mesh (478 refined landmarks; models from the pinned wheel) in tracking mode.
Live side: no torch, no Qt.
"""

from .bench import measure_track_ms
from .crop import Box, as_rgb, crop_face
from .expression import ExpressionConfig
from .filters import OneEuro, OneEuroConfig
from .still import detect_face_box, estimate_params
from .tracker import FaceTracker, TrackerConfig, TrackResult

__all__ = ["Box", "ExpressionConfig", "FaceTracker", "OneEuro", "OneEuroConfig", "TrackResult",
           "TrackerConfig", "as_rgb", "crop_face", "detect_face_box", "estimate_params", "measure_track_ms"]
