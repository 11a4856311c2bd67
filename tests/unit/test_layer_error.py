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


def _damaged_net():
    """Three convolutions; the middle one has one huge weight per filter that reads an always-zero channel,
    so int8's per-channel scale, stretched to cover it, rounds the filter's real weights away."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 8 * 8, 5)).eval()
    with torch.no_grad():
        model[0].weight[7].zero_()
        model[0].bias[7] = -1.0  # channel 7 is zero after the ReLU
        model[2].weight[:, 7] = 500.0
    return model


def _rank(model, method, seed=0):
    from edgeq.inspection import _Exported, _rank
    from edgeq.metrics import score_forward, resolve_metric
    from edgeq.numerics import flatten_outputs

    spec = QuantSpec(scheme="static", engine="x86", format="pte")
    generator = torch.Generator().manual_seed(seed)
    samples = [(torch.randn(1, 3, 8, 8, generator=generator),) for _ in range(8)]
    graph, notes = export_for_quantization(model, samples[0], spec)
    with torch.no_grad():
        reference = [flatten_outputs(model(*sample)) for sample in samples]
    metric = resolve_metric("cosine", None, reference)

    def score(forward):
        return score_forward(metric, None, reference, samples, forward)

    return _rank(_Exported(graph, samples, notes), spec, samples, score, 1.0, None, method)


def test_the_fast_ranking_puts_the_damaged_layer_first_with_the_drop_the_exact_ranking_measures():
    model = _damaged_net()
    fast, exact = _rank(model, "fast"), _rank(model, "exact")
    assert fast[0][0] == exact[0][0] == "2"
    assert abs(fast[0][1] - exact[0][1]) < 1e-3 * exact[0][1]  # the same model: only that layer int8
    assert sorted(layer for layer, _, _ in fast) == sorted(layer for layer, _, _ in exact) == ["0", "2", "4", "6"]


def test_the_fast_ranking_scores_only_the_worst_layers_and_lists_the_rest_in_shadow_order():
    from edgeq.quantize.shadow import fast_sensitivity
    from edgeq.metrics import Score

    model = _damaged_net()
    spec = QuantSpec(scheme="static", engine="x86", format="pte")
    samples = [(torch.randn(1, 3, 8, 8),) for _ in range(4)]
    graph, _ = export_for_quantization(model, samples[0], spec)
    scored = []

    def score(forward):
        scored.append(forward)
        return Score(0.5, 0.9)

    ranking = fast_sensitivity(graph, spec, samples, samples, score, 1.0, refine=2)
    assert len(scored) == 2 and ranking[0][0] == "2"
    assert [drop for _, drop, _ in ranking] == [0.5, 0.5, None, None]


def _stat(name, sqnr, low, high, rms, **kw):
    from edgeq.quantize.layer_error import LayerStat

    return LayerStat(name=name, kind="Conv2d", sqnr_db=sqnr, max_abs_err=0.1, weight_min=-1.0, weight_max=1.0,
                     activation_min=low, activation_max=high, input_rms=rms, **kw)


def test_each_layer_is_given_the_cause_its_figures_show():
    from edgeq.quantize.layer_error import diagnose

    layers = [
        _stat("stem", 40.0, -1.0, 1.0, 0.5, output_error=0.05),  # well ranged, yet alone it moves the outputs
        _stat("wide", 30.0, -100.0, 100.0, 0.5),  # one scale over 400x its RMS: about 7 dB
        _stat("outlier", 32.0, 0.0, 6.0, 1.5, outlier_channels=[{"channel": 7, "ratio": 40.0}]),
        _stat("padded", 35.0, 0.0, 6.0, 1.5, padded_input=True),  # a pad alone costs nothing
        _stat("deep", 12.0, 0.0, 6.0, 1.5, output_error=1e-5),  # noisy only from what came before
        _stat("quiet", 33.0, 0.0, 6.0, 1.5, output_error=1e-5),
    ]
    diagnose(layers)
    causes = {layer.name: [cause.split(":")[0] for cause in layer.causes] for layer in layers}
    assert causes == {"stem": ["rounding"], "wide": ["range"], "outlier": ["channel"], "padded": ["padding"],
                      "deep": ["compounded"], "quiet": []}
    assert "resolve it to 7 dB" in layers[1].causes[0]
    assert layers[2].causes[0] == "channel: input channel 7 is 40x the median channel"
