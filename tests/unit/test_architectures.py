"""Tests for the self-contained MobileNetV2 and ResNet-18 definitions."""

from typing import Callable

import pytest
import torch
from torch import nn

from edgeq.models.architectures import mobilenet_v2, resnet18

_BUILDERS = [
    pytest.param(mobilenet_v2, id="mobilenet_v2"),
    pytest.param(resnet18, id="resnet18"),
]


def _param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_mobilenet_v2_has_published_parameter_count() -> None:
    assert _param_count(mobilenet_v2()) == 3_504_872


def test_resnet18_has_published_parameter_count() -> None:
    assert _param_count(resnet18()) == 11_689_512


@pytest.mark.parametrize("builder", _BUILDERS)
def test_imagenet_sized_input_gives_1000_logits(builder: Callable[[], nn.Module]) -> None:
    model = builder().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("builder", _BUILDERS)
def test_eval_model_exports_with_torch_export(builder: Callable[[], nn.Module]) -> None:
    model = builder().eval()
    example = torch.randn(1, 3, 224, 224)
    exported = torch.export.export(model, (example,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(example), model(example))


@pytest.mark.parametrize("builder", _BUILDERS)
def test_construction_is_deterministic_under_fixed_seed(builder: Callable[[], nn.Module]) -> None:
    torch.manual_seed(0)
    first = builder().state_dict()
    torch.manual_seed(0)
    second = builder().state_dict()
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
