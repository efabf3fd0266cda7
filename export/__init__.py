"""The offline export side (PyTorch): networks, base-model training, character fine-tuning,
ONNX export with the identity frozen in, and import of the authors' released checkpoint."""
