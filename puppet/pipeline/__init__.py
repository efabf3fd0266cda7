"""The live path without the GUI: a source, a tracker, a character, compositing, recording.

Typical use (the GUI does the same and re-emits the callbacks as Qt signals)::

    from puppet.engine import Engine
    from puppet.capture import CameraSource, CameraConfig, VideoFileSource
    from puppet.pipeline import Pipeline, PipelineConfig, Mode

    engine = Engine.load("mina.puppet")                    # engine.provider: "CUDA" | "CPU" ...
    pipe = Pipeline(engine, CameraSource(CameraConfig(index=0)), PipelineConfig(mirror=True),
                    on_frame=show, on_error=warn, on_finished=done)
    pipe.start()
    pipe.set_background(parse_background("#00ff00"));  pipe.set_side_by_side(True)
    pipe.calibrate();  pipe.set_mirror(False);  pipe.set_tracker_options(smoothing=0.5)
    pipe.set_manual_params(params.make(mouth_open=0.8))   # sliders; None -> back to the camera
    pipe.set_character(other_engine)                       # swap while running
    pipe.start_recording("take.mp4");  ...;  pipe.stop_recording() -> RecordingResult
    pipe.stats() -> RunSummary (fps, per-stage ms, latency, dropped, errors)
    pipe.stop() -> RunSummary

``Pipeline(engine, source=None)`` runs without a camera (an idle clock): drive it with
``set_manual_params``. ``PipelineConfig(mode=Mode.OFFLINE)`` processes every frame of a file in
order (``pipe.wait()`` returns when the file is done); ``Mode.LIVE`` (default) drops stale frames.

Callbacks run on the pipeline's output thread: ``on_frame(FrameResult)`` with the composited
image, the camera frame, the driver image, the TrackResult, StageTimes and the provider;
``on_error(message)`` with one line; ``on_finished(RunSummary)`` once at the end.
"""

from puppet.pipeline.core import (STAGES, FrameResult, Mode, Pipeline, PipelineConfig, PipelineError,
                                  RunSummary, StageTimes, Tracker)
from puppet.pipeline.handoff import Handoff
from puppet.pipeline.prepare import DriverPreparer, to_tensor

__all__ = ["STAGES", "DriverPreparer", "FrameResult", "Handoff", "Mode", "Pipeline", "PipelineConfig",
           "PipelineError", "RunSummary", "StageTimes", "Tracker", "to_tensor"]
