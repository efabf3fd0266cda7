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

Callbacks run on the pipeline's output thread (wrap them in Qt signals; never touch widgets
there): ``on_frame(FrameResult)`` with ``image`` (composited uint8 RGB, RGBA over a transparent
background), ``camera`` (the RGB frame, mirrored if set), ``driver`` (what the graph saw),
``track`` (puppet.tracking.TrackResult), ``times`` (StageTimes: capture, track, prepare, infer,
compose, latency in ms), ``provider`` and ``character``; ``on_error(message)`` with one line
(a vanished camera ends the run; a failed recording stops only the recording in LIVE mode);
``on_finished(RunSummary)`` once, after the recording is finalised. ``RunSummary.line()`` is
a one-line status text.

Setters may be called from any thread while running; they take effect at the next frame. A
pipeline runs once: to change camera or mode, ``stop()`` it and make a new one with the same
Engine (loading is the slow part; an Engine outlives pipelines).
``set_character`` loads a bundle on the calling thread (about a second for a 128 px
character): a GUI loads ``Engine.load(path)`` on a worker and passes the Engine.
"""

from puppet.pipeline.core import FrameResult, Mode, Pipeline, PipelineConfig, PipelineError, Tracker
from puppet.pipeline.handoff import Handoff
from puppet.pipeline.prepare import DriverPreparer, to_tensor
from puppet.pipeline.stats import STAGES, RunSummary, StageTimes

__all__ = ["STAGES", "DriverPreparer", "FrameResult", "Handoff", "Mode", "Pipeline", "PipelineConfig",
           "PipelineError", "RunSummary", "StageTimes", "Tracker", "to_tensor"]
