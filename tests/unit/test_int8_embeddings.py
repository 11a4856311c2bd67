"""int8 embedding tables in .pte: the lookup module, what stays fp32, the artifact's kernels, and the device check."""

import pytest
import torch
from torch import nn

from edgeq.device.probe import DeviceFacts, missing_kernels
from edgeq.export.host_runtime import load_forward
from edgeq.export.pte import write_pte
from edgeq.profiles import load_profile
from edgeq.quantize import QuantSpec
from edgeq.quantize.embedding import EMBEDDING_KERNEL, Int8Embedding, quantize_embeddings
from edgeq.transport import FakeTransport
from edgeq.transport.fake_device import FakeDevice


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.words = nn.Embedding(200, 24)
        self.positions = nn.Embedding(16, 24)
        self.capped = nn.Embedding(10, 24, max_norm=1.0)
        self.head = nn.Linear(24, 5)

    def forward(self, tokens):
        steps = torch.arange(tokens.shape[1])
        return self.head(self.words(tokens) + self.positions(steps)).mean(1)


def test_an_int8_table_looks_rows_up_within_half_a_step_of_each_rows_scale():
    table = nn.Embedding(50, 8)
    with torch.no_grad():
        table.weight[3] *= 100.0  # one row far larger than the rest keeps its own scale
    quantized = Int8Embedding(table)
    tokens = torch.tensor([[0, 3, 7, 49]])
    got, want = quantized(tokens), table(tokens).detach()
    steps = quantized.scales[tokens].unsqueeze(-1)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert bool(((got - want).abs() <= steps / 2 + 1e-7).all())
    assert quantized.weight.dtype == torch.int8 and quantized.weight.shape == (50, 8)


def test_tables_named_to_stay_float_and_tables_with_max_norm_stay_fp32():
    model = Tagger()
    converted, names = quantize_embeddings(model, keep=("positions",))
    assert names == ["words"]
    assert isinstance(converted.words, Int8Embedding)
    assert type(converted.positions) is nn.Embedding and type(converted.capped) is nn.Embedding
    assert type(model.words) is nn.Embedding  # the user's model is left as it was


def test_a_model_without_tables_comes_back_as_it_is():
    model = nn.Sequential(nn.Linear(4, 4))
    assert quantize_embeddings(model) == (model, [])


def test_only_a_quantized_pte_variant_has_int8_tables_and_keeping_them_fp32_shows_in_its_name():
    assert QuantSpec(scheme="dynamic", engine="x86", format="pte").int8_embeddings
    assert not QuantSpec(scheme="none", engine="x86", format="pte").int8_embeddings
    assert not QuantSpec(scheme="dynamic", engine="x86", format="ptl").int8_embeddings
    kept = QuantSpec(scheme="dynamic", engine="x86", format="pte", int8_embeddings=False)
    assert kept.variant == "int8-dynamic-fp32emb" and kept.key()["int8_embeddings"] is False
    assert QuantSpec(scheme="dynamic", engine="x86", format="ptl", int8_embeddings=False).variant == "int8-dynamic"


def test_the_pte_names_the_quantized_kernel_it_calls_and_runs_where_the_kernels_are_loaded(tmp_path):
    model = Tagger().eval()
    converted, _ = quantize_embeddings(model)
    tokens = torch.randint(0, 16, (1, 12))
    backend = write_pte(converted, (tokens,), tmp_path / "model.pte")
    assert backend["needs_kernels"] == [EMBEDDING_KERNEL]
    assert "quantized_decomposed_embedding_byte_default" in backend["ops_outside_backend"]
    got = load_forward(tmp_path / "model.pte", "pte")(tokens)
    assert torch.nn.functional.cosine_similarity(got.flatten(), model(tokens).detach().flatten(), dim=0) > 0.999


def test_a_fp32_pte_needs_no_optional_kernel(tmp_path):
    backend = write_pte(Tagger().eval(), (torch.randint(0, 16, (1, 12)),), tmp_path / "model.pte")
    assert backend["needs_kernels"] == []


@pytest.mark.parametrize("registered, missing", [((EMBEDDING_KERNEL,), []), ((), [EMBEDDING_KERNEL])])
def test_the_device_is_asked_once_which_kernels_its_runtime_has(registered, missing):
    transport = FakeTransport(FakeDevice(kernels=registered))
    facts = DeviceFacts()
    profile = load_profile("host")
    assert missing_kernels(transport, profile, facts, [EMBEDDING_KERNEL]) == missing
    assert missing_kernels(transport, profile, facts, [EMBEDDING_KERNEL]) == missing
    asked = [call for call in transport.calls if "_get_operator_names" in " ".join(call)]
    assert len(asked) == 1


def test_a_device_that_cannot_say_which_kernels_it_has_is_not_refused():
    transport = FakeTransport(lambda argv: (1, "", "Traceback: no module named torch\n"))
    assert missing_kernels(transport, load_profile("host"), DeviceFacts(), [EMBEDDING_KERNEL]) == []
