"""puppet: drive a drawn character with your face, live (latent pose reenactment).

This package is the live side: capture, tracking, the character graph through onnxruntime,
compositing, recording and the GUI. It never imports torch; the PyTorch side is ``export``.
"""

__version__ = "0.1.0"
