"""The classic choice of scheme from a model's layers (PyTorch's quantization guidance).

Recurrent and attention models, and models whose weights sit mostly in Linear
layers, are bound by loading weights: dynamic quantization. Convolutional nets
are bound by compute on activations: static post-training quantization.
"""

from __future__ import annotations

import torch
from torch import nn

_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell)
_ATTENTION = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def choose_scheme(model: torch.nn.Module) -> tuple[str, str]:
    """Return ``(scheme, reason)`` for an int8 variant of ``model``."""
    modules = list(model.modules())
    recurrent = [m for m in modules if isinstance(m, _RECURRENT)]
    if recurrent:
        return "dynamic", f"recurrent layers ({type(recurrent[0]).__name__}): dynamic int8"
    if any(isinstance(m, _ATTENTION) or "attention" in type(m).__name__.lower() for m in modules):
        return "dynamic", "attention layers (Transformer): dynamic int8"
    conv = sum(m.weight.numel() for m in modules if isinstance(m, nn.modules.conv._ConvNd))
    linear = sum(m.weight.numel() for m in modules if isinstance(m, nn.Linear))
    if conv and conv >= linear / 4:
        return "static", "convolutional net: static post-training int8, per-channel weights"
    if conv:
        return "dynamic", f"Linear layers hold {linear / (conv + linear):.0%} of the weights: dynamic int8"
    return "dynamic", "Linear-only model (MLP): dynamic int8"
