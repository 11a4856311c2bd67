import dataclasses

import torch
from torch import nn

from edgeq.models.tracing import output_tensors, prepare_for_tracing, prepared_name, skipped_outputs, user_name


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
    assert "model.meta_edgeq.weight" in names and "model.meta.weight" not in names
    torch.testing.assert_close(prepared(x)[0], model.eval()(x))


def test_prepared_model_is_in_eval_mode_and_the_original_untouched():
    model = _Reserved().train()
    prepared = prepare_for_tracing(model)
    assert not prepared.training and not prepared.model.training and model.training
    assert [n for n, _ in model.named_parameters()][0] == "meta.weight"


def test_pt2e_quantizes_a_model_with_a_meta_submodule():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_for_tracing(_Reserved())
    x = (torch.randn(1, 4),)
    graph = torch.export.export(prepared, x).module()
    quantized = convert_pt2e(prepare_pt2e(graph, XNNPACKQuantizer().set_global(get_symmetric_quantization_config())))
    assert quantized(*x)[0].shape == (1, 2)


def test_user_name_maps_prepared_paths_back_to_the_users_own():
    assert user_name("model.blocks.meta_edgeq.weight") == "blocks.meta.weight"
    assert user_name("model.data_edgeq.x") == "data_edgeq.x"
    assert user_name("model.model.layers.0") == "model.layers.0"  # a user's own submodule called `model`
    assert user_name("model.0") == "0"


def test_prepared_name_is_the_inverse_of_user_name():
    for name in ("features.3", "blocks.meta.proj", "0", "model.layers.0"):
        assert user_name(prepared_name(name)) == name


def test_a_top_level_sequential_gets_parameter_paths_that_do_not_start_with_a_digit():
    prepared = prepare_for_tracing(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    assert all(not name[0].isdigit() for name, _ in prepared.named_parameters())


@dataclasses.dataclass
class _Detections:
    boxes: torch.Tensor
    scores: torch.Tensor
    label: str = "car"
    extra: torch.Tensor | None = None


class _Cache:
    """An output part that is neither a tensor nor a container pytree knows (like transformers' DynamicCache)."""


def test_outputs_of_every_shape_come_out_as_tensors_in_pytree_order():
    a, b, c, d = (torch.full((1,), float(i)) for i in range(4))
    outputs = {"logits": a, "state": (b, [c]), "none": None, "count": 3, "det": _Detections(d, a), "cache": _Cache()}
    assert [t.item() for t in output_tensors(outputs)] == [0.0, 1.0, 2.0, 3.0, 0.0]
    assert skipped_outputs(outputs) == ["_Cache"]


def test_keyword_inputs_are_passed_by_name():
    class Keywords(nn.Module):
        def forward(self, input_ids, attention_mask=None, scale=None):
            return {"out": input_ids.float() * attention_mask * scale}

    prepared = prepare_for_tracing(Keywords(), keywords=("attention_mask", "scale"))
    ids, mask, scale = torch.ones(1, 3, dtype=torch.long), torch.tensor([[1.0, 0.0, 1.0]]), torch.tensor(2.0)
    (out,) = prepared(ids, mask, scale)
    torch.testing.assert_close(out, torch.tensor([[2.0, 0.0, 2.0]]))


def test_transformers_conv1d_becomes_the_linear_it_is():
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    model = nn.Sequential(Conv1D(8, 4), nn.ReLU())
    prepared = prepare_for_tracing(model)
    assert isinstance(prepared.model[0], nn.Linear) and isinstance(model[0], Conv1D)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(prepared(x)[0], model.eval()(x))
