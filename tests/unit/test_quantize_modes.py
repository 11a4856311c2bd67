"""The quantization modes, observers and mixed precision on small models (seconds, no device)."""

import pytest
import torch
from torch import nn

from edgeq.errors import ConfigError, ModelError
from edgeq.models import TrainSet
from edgeq.quantize import QuantSpec, quantize
from edgeq.quantize.legacy import _qconfig_mapping
from edgeq.quantize.observers import activation_observer
from edgeq.quantize.training import stack_samples


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(8 * 8 * 8, 4))

    def forward(self, x):
        return self.head(self.body(self.stem(x)))


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    inputs = [(torch.randn(1, 1, 8, 8, generator=generator),) for _ in range(48)]
    targets = [int(x.mean() > 0) + 2 * int(x[0, 0, 0, 0] > 0) for (x,) in inputs]
    return inputs, targets


def spec(**overrides):
    return QuantSpec(**{"scheme": "static", "engine": "x86", "format": "pte", **overrides})


def _model():
    torch.manual_seed(0)
    return SmallCNN().eval()


def test_variant_names_say_scheme_observer_and_mixed_precision():
    assert spec(scheme="none").variant == "fp32"
    assert spec().variant == "int8-static"
    assert spec(observer="percentile", float_layers=("body.0", "stem.0")).variant == "int8-static-percentile-mixed2"
    assert spec(scheme="qat").variant == "int8-qat"


@pytest.mark.parametrize("overrides, message", [
    ({"observer": "kl"}, "observer 'kl'"),
    ({"qat_epochs": 0}, "qat_epochs"),
    ({"scheme": "none", "float_layers": ("stem.0",)}, "float_layers"),
])
def test_spec_rejects_bad_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        spec(**overrides)


@pytest.mark.parametrize("flow", ["pt2e", "legacy"])
def test_percentile_observer_ignores_a_rare_outlier_that_minmax_keeps(flow):
    batches = [torch.linspace(-1, 1, 2000) for _ in range(10)]
    batches[3] = torch.cat([batches[3][:-1], torch.tensor([50.0])])
    percentile = activation_observer("percentile", flow)()
    minmax = activation_observer("minmax", flow)()
    for batch in batches:
        percentile(batch)
        minmax(batch)
    percentile.calculate_qparams()
    assert minmax.max_val.item() == 50.0
    assert 0.99 < percentile.max_val.item() < 1.01


def test_legacy_static_takes_reduce_range_from_the_spec_not_the_host():
    activation = _qconfig_mapping(spec(format="ptl", engine="fbgemm", reduce_range=True)).global_qconfig.activation()
    assert activation.quant_max - activation.quant_min == 127
    activation = _qconfig_mapping(spec(format="ptl", engine="x86", reduce_range=False)).global_qconfig.activation()
    assert activation.quant_max - activation.quant_min == 255


def _quantized_convs(graph):
    """Module paths of the convolutions whose weight arrives through a dequantize node."""
    found = set()
    for node in graph.graph.nodes:
        if node.op == "call_function" and "conv2d" in str(node.target):
            weight = node.args[1]
            if "dequantize" in str(getattr(weight, "target", "")):
                found.add(list(node.meta["nn_module_stack"].values())[-1][0])
    return found


def test_pt2e_mixed_precision_keeps_the_named_layer_float(data):
    inputs, _ = data
    result = quantize(_model(), inputs[0], spec(float_layers=("body.0",)), inputs[:8])
    assert _quantized_convs(result.model) == {"stem.0"}
    assert "kept in fp32: body.0" in result.notes


@pytest.mark.parametrize("observer", ["minmax", "moving_average", "percentile"])
def test_pt2e_static_calibrates_with_each_observer(data, observer):
    inputs, _ = data
    model = _model()
    result = quantize(model, inputs[0], spec(observer=observer), inputs[:8])
    with torch.no_grad():
        cosine = nn.functional.cosine_similarity(result.model(*inputs[9]).flatten(), model(*inputs[9]).flatten(), dim=0)
    assert cosine > 0.9  # an untrained net with four logits: loose, but a broken observer gives ~0
    assert f"the {observer} observer" in result.notes[0]


def test_legacy_mixed_precision_leaves_the_named_module_float(data):
    inputs, _ = data
    result = quantize(_model(), inputs[0], spec(format="ptl", float_layers=("body.0",)), inputs[:8])
    modules = dict(result.model.named_modules())
    assert "quantized" not in type(modules["body.0"]).__module__  # fused with its ReLU, still float
    assert "quantized" in type(modules["stem.0"]).__module__


@pytest.mark.parametrize("fmt", ["pte", "ptl"])
def test_qat_fine_tunes_on_the_training_set_and_converts(data, fmt):
    inputs, targets = data
    model = _model()
    training = TrainSet(inputs=inputs, targets=targets, batch_size=16)
    result = quantize(model, inputs[0], spec(scheme="qat", format=fmt, qat_epochs=1), inputs[:8], training)
    assert any("fine-tuned 1 epoch(s), 3 steps of 16 on 48 samples" in note for note in result.notes)
    with torch.no_grad():
        assert result.model(*inputs[0]).shape == (1, 4)


def test_qat_runs_a_users_own_loop(data):
    inputs, targets = data
    seen = []

    def train(module):
        seen.append(module.training)
        optimizer = torch.optim.SGD(module.parameters(), lr=1e-3)
        loss = nn.functional.cross_entropy(module(stack_samples(inputs[:4])[0]), torch.tensor(targets[:4]))
        loss.backward()
        optimizer.step()

    result = quantize(_model(), inputs[0], spec(scheme="qat"), inputs[:8], train)
    assert seen == [True]
    assert "fine-tuned with the model's own training loop" in result.notes


def test_qat_without_training_data_says_how_to_give_it(data):
    inputs, _ = data
    with pytest.raises(ModelError, match="training data") as info:
        quantize(_model(), inputs[0], spec(scheme="qat"), inputs[:8], None)
    assert "fourth item" in info.value.hint


def test_stack_samples_batches_nested_inputs():
    samples = [((torch.ones(1, 2), {"mask": torch.zeros(1, 3)}),), ((torch.ones(1, 2), {"mask": torch.ones(1, 3)}),)]
    (pair,) = stack_samples(samples)
    assert pair[0].shape == (2, 2) and pair[1]["mask"].shape == (2, 3)


def test_legacy_dynamic_quantizes_embedding_tables_weight_only():
    model = nn.Sequential(nn.Embedding(100, 16), nn.Flatten(), nn.Linear(16 * 4, 2)).eval()
    example = (torch.randint(0, 100, (1, 4)),)
    result = quantize(model, example, spec(scheme="dynamic", format="ptl"))
    assert "quantized" in type(result.model[0]).__module__
    assert "1 embedding table(s) int8 weight-only" in result.notes


def test_only_layer_filter_quantizes_a_conv_with_its_folded_batchnorm_and_relu6():
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from edgeq.quantize.pt2e import export_for_quantization, only_layer_filter, xnnpack_quantizer

    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)),
                          nn.Conv2d(8, 8, 1)).eval()
    graph, _ = export_for_quantization(model, (torch.randn(1, 3, 16, 16),), spec())
    prepared = prepare_pt2e(graph, xnnpack_quantizer(spec(), only=only_layer_filter(graph, "0.0")))
    observed = {node.args[0].name for node in prepared.graph.nodes
                if node.op == "call_module" and node.name.startswith("activation_post_process")}
    assert {"input_1", "_0_0_weight", "hardtanh_"} <= observed  # the first block: input, folded weight, output
    assert "_1_weight" not in observed  # the second conv stays float


class _Residual(torch.nn.Module):
    """A residual block, as ResNet and MobileNetV2 have: torch.ao turns its add into a quantized add whose scale and
    zero point are buffers, which torch.jit.trace warns about as tensors taken for Python numbers."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x)) + x


def test_a_legacy_int8_residual_block_is_traced_for_the_lite_interpreter(tmp_path):
    from edgeq.export.ptl import write_ptl
    from edgeq.models.tracing import prepare_for_tracing

    torch.manual_seed(0)
    samples = [(torch.randn(1, 4, 8, 8),) for _ in range(8)]
    model = prepare_for_tracing(_Residual().eval(), {})
    spec = QuantSpec(scheme="static", engine="x86", format="ptl")
    converted = quantize(model, samples[0], spec, samples).model
    assert write_ptl(converted, samples[0], tmp_path / "model.ptl", "x86")["torchscript"] == "trace"
