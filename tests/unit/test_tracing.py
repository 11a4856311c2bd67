import torch
from torch import nn

from edgeq.models.tracing import prepare_for_tracing, user_name


class _Reserved(nn.Module):
    def __init__(self):
        super().__init__()
        self.meta = nn.Linear(4, 4)
        self.graph = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 2))

    def forward(self, x):
        return self.graph(torch.relu(self.meta(x)))


def test_reserved_submodule_names_are_renamed_and_still_work():
    model = _Reserved()
    x = torch.randn(1, 4)
    prepared = prepare_for_tracing(model)
    names = [n for n, _ in prepared.named_parameters()]
    assert "meta_edgeq.weight" in names and "meta.weight" not in names
    torch.testing.assert_close(prepared(x), model.eval()(x))


def test_prepared_model_is_in_eval_mode_and_the_original_untouched():
    model = _Reserved().train()
    prepared = prepare_for_tracing(model)
    assert not prepared.training and model.training
    assert [n for n, _ in model.named_parameters()][0] == "meta.weight"


def test_pt2e_quantizes_a_model_with_a_meta_submodule():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_for_tracing(_Reserved())
    x = (torch.randn(1, 4),)
    graph = torch.export.export(prepared, x).module()
    quantized = convert_pt2e(prepare_pt2e(graph, XNNPACKQuantizer().set_global(get_symmetric_quantization_config())))
    assert quantized(*x).shape == (1, 2)


def test_user_name_maps_renamed_paths_back():
    assert user_name("blocks.meta_edgeq.weight") == "blocks.meta.weight"
    assert user_name("data_edgeq.x") == "data_edgeq.x"
