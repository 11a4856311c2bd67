"""Outlier equalization: which layer pairs it finds, that it keeps the model's function, and that it evens the channels."""

import pytest
import torch
from torch import nn

from edgeq.errors import ConfigError
from edgeq.quantize import QuantSpec
from edgeq.quantize.equalize import Pair, activation_ranges, equalize, find_pairs


def _outlier_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    with torch.no_grad():
        model[0].bias.fill_(0.5)  # every channel on, so each has a range
        model[0].weight[5] *= 200.0
        model[0].bias[5] *= 200.0
        model[2].weight[:, 5] /= 200.0
    return model


def _ratio(model, pairs, samples):
    widths = activation_ranges(model, pairs, samples)[pairs[0].producer]
    return float(widths.max() / widths.median())


def test_a_linear_relu_linear_chain_is_a_pair_and_a_conv_with_groups_is_not():
    assert find_pairs(_outlier_mlp(), (torch.randn(1, 16),)) == [Pair("0", "2", relu=True)]
    depthwise = nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, groups=4)).eval()
    assert find_pairs(depthwise, (torch.randn(1, 4, 8, 8),)) == []
    clamped = nn.Sequential(nn.Linear(4, 4), nn.ReLU6(), nn.Linear(4, 4)).eval()  # a clamp does not commute with a scale
    assert find_pairs(clamped, (torch.randn(1, 4),)) == []


def test_equalizing_keeps_the_function_and_evens_the_outlier_channel():
    model = _outlier_mlp()
    samples = [(torch.randn(1, 16),) for _ in range(32)]
    equalized, notes = equalize(model, samples[0], samples)
    pairs = find_pairs(model, samples[0])
    assert _ratio(model, pairs, samples) > 100 and _ratio(equalized, pairs, samples) < 5
    with torch.no_grad():
        for sample in samples:
            torch.testing.assert_close(equalized(*sample), model(*sample), rtol=1e-4, atol=1e-4)
    assert len(notes) == 1 and notes[0].startswith("equalized 0 → 2: its widest channel spanned")
    assert model[0].weight[5].abs().max() > 40  # the user's model is left as it was (its outlier row, ×200)


def test_a_model_without_outliers_comes_back_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    with torch.no_grad():
        model[0].bias.fill_(1.0)
    samples = [(torch.randn(1, 16),) for _ in range(8)]
    equalized, notes = equalize(model, samples[0], samples)
    assert notes == [] and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), equalized.state_dict().values()))


def test_an_equalized_variant_is_named_so_and_only_post_training_schemes_take_it():
    assert QuantSpec(scheme="static", engine="x86", format="pte", equalize=True).variant == "int8-static-eq"
    with pytest.raises(ConfigError, match="equalization is for post-training int8"):
        QuantSpec(scheme="qat", engine="x86", format="pte", equalize=True)
