"""Keeping a layer in fp32 is a boundary, not a hole: every layer of a small net with TensorFlow-style padding in
front of its strided depthwise convolution can stay fp32 while the rest is int8, and the program lowers to
XNNPACK and computes what the eager model computes."""

from pathlib import Path

import pytest
import torch
from torch import nn

from edgeq.errors import ExportError
from edgeq.export.host_runtime import load_forward
from edgeq.export.pte import write_pte
from edgeq.models.tracing import prepare_for_tracing, prepared_name
from edgeq.quantize import QuantSpec, quantize

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


class SamePaddedDepthwise(nn.Module):
    """A strided depthwise convolution with its "same" padding computed in forward, as transformers' MobileNetV2
    does for TensorFlow checkpoints (``tf_padding``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convolution = nn.Conv2d(channels, channels, 3, stride=2, groups=channels, bias=False)
        self.normalization = nn.BatchNorm2d(channels)

    def forward(self, x):
        pad = max(3 - 2, 0) if x.shape[-1] % 2 == 0 else max(3 - 1, 0)
        x = nn.functional.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return nn.functional.relu6(self.normalization(self.convolution(x)))


class InvertedResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, channels * 4, 1, bias=False), nn.BatchNorm2d(channels * 4),
                                    nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(channels * 4, channels * 4, 3, padding=1, groups=channels * 4,
                                                 bias=False), nn.BatchNorm2d(channels * 4), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(channels * 4, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.project(self.depthwise(self.expand(x)))


class TinyMobileNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
        self.down = SamePaddedDepthwise(8)
        self.block = InvertedResidual(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.block(self.down(self.stem(x))).mean((2, 3)))


LAYERS = ("stem.0", "down", "down.convolution", "block.expand.0", "block.depthwise.0", "block.project.0", "head")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = TinyMobileNet()
    batch = torch.randn(16, 3, 16, 16)
    model.train()
    with torch.no_grad():
        model(batch)  # BatchNorm statistics of real activations
    return prepare_for_tracing(model.eval()), [(batch[i:i + 1],) for i in range(8)]


def lowered(tiny, layers: tuple[str, ...], path: Path):
    model, samples = tiny
    spec = QuantSpec(scheme="static", engine="x86", format="pte", float_layers=tuple(map(prepared_name, layers)))
    result = quantize(model, samples[0], spec, calibration=samples)
    return result, write_pte(result.model, samples[0], path)


@pytest.mark.parametrize("layer", LAYERS)
def test_any_one_layer_kept_fp32_lowers_and_computes_what_the_model_computes(tiny, layer, tmp_path):
    model, samples = tiny
    _, backend = lowered(tiny, (layer,), tmp_path / "m.pte")
    assert backend["delegated_subgraphs"] >= 1
    forward = load_forward(tmp_path / "m.pte", "pte")
    for (sample,) in samples[:4]:
        expected = model(sample)[0]
        cosine = nn.functional.cosine_similarity(forward(sample).flatten(), expected.flatten(), dim=0).item()
        assert cosine >= 0.98, (layer, cosine)


def test_without_the_boundary_the_lowering_refuses_the_padded_fp32_convolution(tiny, tmp_path, monkeypatch):
    """The case the boundary exists for: ExecuTorch's InsertPadQDQPass makes the pad int8, and the fp32
    convolution it feeds then has an int8 input and a float weight."""
    from edgeq.quantize import boundaries

    monkeypatch.setattr(boundaries, "requantize_float_boundaries", lambda graph: [])
    with pytest.raises(ExportError, match="Weight and Input should both be quantized"):
        lowered(tiny, ("down.convolution",), tmp_path / "m.pte")


def test_the_boundary_of_each_fp32_layer_is_named_from_int8_to_int8(tiny, tmp_path):
    result, _ = lowered(tiny, ("down", "block.project.0"), tmp_path / "m.pte")
    assert result.boundaries == ["block.project.0: int8 → conv2d (fp32) → int8",
                                 "down: int8 → pad → conv2d → relu6 (fp32) → int8"], result.boundaries


def test_the_legacy_path_traces_padding_computed_from_the_shape_and_names_what_fx_cannot(tiny, tmp_path):
    """fp32 .ptl: the branch reads the input's shape, which a .ptl fixes, so the trace is kept. int8 static .ptl:
    torch.ao's FX tracing cannot branch on a traced shape; the failure says where and which flow can."""
    from edgeq.errors import QuantizationError
    from edgeq.export.ptl import write_ptl

    model, samples = tiny
    backend = write_ptl(model, samples[0], tmp_path / "m.ptl", "x86")
    assert backend["torchscript"] == "trace"
    forward = load_forward(tmp_path / "m.ptl", "ptl", "x86")
    torch.testing.assert_close(forward(*samples[1])[0], model(*samples[1])[0], rtol=1e-4, atol=1e-5)
    spec = QuantSpec(scheme="static", engine="x86", format="ptl")
    with pytest.raises(QuantizationError) as failed:
        quantize(model, samples[0], spec, calibration=samples)
    assert "FX symbolic tracing cannot compute with a traced value in the model's forward at " \
           "test_float_boundaries.py:" in failed.value.message
    assert "the .pte flow (torch.export) builds this model" in failed.value.message
