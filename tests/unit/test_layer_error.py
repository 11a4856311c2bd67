"""Layer-by-layer comparison on a small graph: names, SQNR, and in-place ops that must not corrupt the record."""

import copy

import torch
from torch import nn

from edgeq.quantize import QuantSpec
from edgeq.quantize.layer_error import compare_layers, layer_nodes
from edgeq.quantize.pt2e import export_for_quantization, observe, xnnpack_quantizer


def _quantized(model, example, calibration):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    spec = QuantSpec(scheme="static", engine="x86", format="pte")
    graph, _ = export_for_quantization(model, example, spec)
    observed = observe(graph, xnnpack_quantizer(spec), calibration)
    float_graph = copy.deepcopy(observed)
    return float_graph, convert_pt2e(observed)


def test_layers_are_named_by_module_path_and_clean_int8_scores_high_sqnr():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)),
                          nn.Conv2d(8, 8, 1), nn.Flatten(), nn.Linear(8 * 14 * 14, 4)).eval()
    model[0][1].running_var.fill_(0.3)
    samples = [(torch.randn(1, 3, 16, 16),) for _ in range(8)]
    float_graph, quantized = _quantized(model, samples[0], samples)
    assert list(layer_nodes(float_graph)) == ["0.0", "1", "3"]
    stats = {layer.name: layer for layer in compare_layers(float_graph, quantized, samples[:4])}
    # the first conv's output is clamped in place by ReLU6 afterwards; the record must hold the value before that
    assert all(layer.sqnr_db > 20 for layer in stats.values()), stats
    assert stats["0.0"].kind == "Conv2d" and stats["3"].kind == "Linear"
