"""fp16 .pte variants: the spec, the fp32-in/fp32-out wrapper, and what the writer lowers to XNNPACK."""

import collections

import pytest
import torch
from torch import nn

from edgeq.errors import ConfigError
from edgeq.quantize import QuantSpec, quantize
from edgeq.quantize.half import HalfPrecision


def _net():
    torch.manual_seed(0)
    return nn.Sequential(collections.OrderedDict(conv=nn.Conv2d(3, 8, 3), bn=nn.BatchNorm2d(8), relu=nn.ReLU(),
                                                 flatten=nn.Flatten(), head=nn.Linear(8 * 6 * 6, 512))).eval()


def test_an_fp16_variant_is_named_fp16_and_is_a_pte_only():
    spec = QuantSpec(scheme="fp16", engine="qnnpack", format="pte")
    assert (spec.variant, spec.precision, spec.int8_embeddings) == ("fp16", "fp16", False)
    with pytest.raises(ConfigError, match="fp16 is a .pte variant"):
        QuantSpec(scheme="fp16", engine="qnnpack", format="ptl")
    with pytest.raises(ConfigError, match="float_layers only make sense for an int8 scheme"):
        QuantSpec(scheme="fp16", engine="qnnpack", format="pte", float_layers=("0",))


def test_the_half_model_takes_and_returns_fp32_and_computes_what_fp32_computes():
    model, x = _net(), torch.randn(2, 3, 8, 8)
    result = quantize(model, (x,), QuantSpec(scheme="fp16", engine="qnnpack", format="pte"))
    assert isinstance(result.model, HalfPrecision) and next(result.model.parameters()).dtype == torch.float16
    out = result.model(x)
    assert out.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(out.flatten(), model(x).detach().flatten(), dim=0) > 0.999
    assert next(model.parameters()).dtype == torch.float32  # the user's model is left as it was


def test_integer_inputs_stay_integers():
    class Lookup(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(10, 4)

        def forward(self, tokens, scale):
            return self.table(tokens) * scale

    out = HalfPrecision(Lookup())(torch.tensor([[1, 2]]), torch.tensor(2.0))
    assert out.dtype == torch.float32 and out.shape == (1, 2, 4)


def test_the_fp16_pte_is_lowered_to_xnnpack_at_half_the_size(tmp_path):
    from edgeq.export.pte import write_pte

    model, example = _net(), (torch.randn(1, 3, 8, 8),)
    fp32 = write_pte(model, example, tmp_path / "fp32.pte")
    fp16 = write_pte(HalfPrecision(model, example), example, tmp_path / "fp16.pte")  # BatchNorm folded first
    assert fp16["delegated_subgraphs"] >= 1 and fp32["delegated_subgraphs"] >= 1
    assert (tmp_path / "fp16.pte").stat().st_size < 0.7 * (tmp_path / "fp32.pte").stat().st_size
