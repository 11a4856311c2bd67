"""``make bench``: edgeq's int8 artifacts against PyTorch eager, torch.ao and ONNX Runtime on this host (see README.md)."""
