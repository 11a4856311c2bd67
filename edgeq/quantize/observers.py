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
_KEPT_PER_BATCH = 2048  # values sampled from each calibration batch; the percentile is taken over all of them


def _sample(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flat = x.detach().float().reshape(-1)
    if flat.numel() <= _KEPT_PER_BATCH:
        return flat.clone()
    return flat[torch.randint(flat.numel(), (_KEPT_PER_BATCH,), generator=generator)]


def _percentile_observer(base: type) -> type:
    """A subclass of ``base`` (a MinMaxObserver) whose range clips at the pooled 0.01st/99.99th percentiles."""

    class PercentileObserver(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.pool: list[torch.Tensor] = []
            self.generator = torch.Generator().manual_seed(0)

        def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
            if x_orig.numel():
                self.pool.append(_sample(x_orig, self.generator))
            return x_orig

        @torch.jit.export
        def calculate_qparams(self) -> Any:
            if self.pool:
                bounds = torch.quantile(torch.cat(self.pool), torch.tensor([1 - PERCENTILE, PERCENTILE]))
                self.min_val.copy_(bounds[0])
                self.max_val.copy_(bounds[1])
            return super().calculate_qparams()

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
