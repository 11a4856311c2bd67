"""Activation observers for static quantization, by name, for both flows.

``histogram`` searches the clipping range that minimises the quantization
error (PyTorch's default for static int8); ``minmax`` keeps every outlier;
``moving_average`` averages each batch's min/max; ``percentile`` clips at the
99.99th percentile of each calibration batch, averaged, so a few extreme
activations do not stretch the scale for all the others.
"""

from __future__ import annotations

from typing import Any

import torch

PERCENTILE = 0.9999
_MAX_QUANTILE_ELEMENTS = 1 << 24  # torch.quantile's input limit


def _batch_percentiles(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.detach().float().reshape(-1)
    if flat.numel() > _MAX_QUANTILE_ELEMENTS:
        flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[:_MAX_QUANTILE_ELEMENTS]]
    bounds = torch.quantile(flat, torch.tensor([1 - PERCENTILE, PERCENTILE]))
    return bounds[0], bounds[1]


def _percentile_observer(base: type) -> type:
    """A subclass of ``base`` (a MinMaxObserver) whose range is the running mean of batch percentiles."""

    class PercentileObserver(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.register_buffer("batches", torch.tensor(0))

        def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
            if x_orig.numel() == 0:
                return x_orig
            low, high = _batch_percentiles(x_orig)
            seen = int(self.batches)
            if seen == 0:
                self.min_val.copy_(low)
                self.max_val.copy_(high)
            else:
                self.min_val.copy_((self.min_val * seen + low) / (seen + 1))
                self.max_val.copy_((self.max_val * seen + high) / (seen + 1))
            self.batches.add_(1)
            return x_orig

    PercentileObserver.__qualname__ = PercentileObserver.__name__ = f"Percentile{base.__name__}"
    return PercentileObserver


_CACHE: dict[tuple[str, str], type] = {}


def activation_observer(name: str, flow: str) -> type:
    """The observer class ``name`` from torchao's PT2E observers (``flow="pt2e"``) or torch.ao's (``"legacy"``)."""
    key = (name, flow)
    if key not in _CACHE:
        if flow == "pt2e":
            from torchao.quantization.pt2e import observer as module
        else:
            from torch.ao.quantization import observer as module
        classes = {"histogram": module.HistogramObserver, "minmax": module.MinMaxObserver,
                   "moving_average": module.MovingAverageMinMaxObserver}
        _CACHE[key] = classes[name] if name in classes else _percentile_observer(module.MinMaxObserver)
    return _CACHE[key]
