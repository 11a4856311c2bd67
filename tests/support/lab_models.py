"""Small models for lab tests: quick to build in fp32 and dynamic int8, distinct artifacts each."""

import torch
from torch import nn


def _mlp(width: int):
    torch.manual_seed(width)
    model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 4))
    return model, (torch.randn(1, width, generator=torch.Generator().manual_seed(width)),)


def mlp_a():
    return _mlp(16)


def mlp_b():
    return _mlp(24)


def mlp_c():
    return _mlp(20)


def mlp_d():
    return _mlp(28)


def mlp_e():
    return _mlp(32)
