import pytest
import torch
from torch import nn

from edgeq.quantize.lstm import WAVEFRONT_MAX_HIDDEN, LinearLSTM, WavefrontLSTM, replace_lstms


def _same(got, expected):
    out, (h, c) = got
    expected_out, (expected_h, expected_c) = expected
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(h, expected_h)
    torch.testing.assert_close(c, expected_c)


@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, True), (2, False, False), (2, True, True)])
def test_linear_lstm_computes_what_nn_lstm_computes(layers, bidirectional, batch_first):
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 10, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).eval()
    x = torch.randn(3, 5, 6)
    _same(LinearLSTM(lstm)(x), lstm(x))


# sequences shorter than the stack: the waves where only some layers work are most of the run
@pytest.mark.parametrize("layers,steps,batch_first,bias", [(1, 5, True, True), (2, 5, False, True), (3, 5, True, True),
                                                           (3, 1, True, True), (3, 2, False, True), (2, 4, True, False)])
def test_the_wavefront_computes_what_nn_lstm_computes(layers, steps, batch_first, bias):
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 10, num_layers=layers, batch_first=batch_first, bias=bias).eval()
    x = torch.randn(3, steps, 6) if batch_first else torch.randn(steps, 3, 6)
    state = torch.randn(layers, 3, 10), torch.randn(layers, 3, 10)
    _same(WavefrontLSTM(lstm)(x), lstm(x))
    _same(WavefrontLSTM(lstm)(x, state), lstm(x, state))


@pytest.mark.parametrize("rewrite", [LinearLSTM, WavefrontLSTM])
def test_the_rewrites_accept_an_initial_state(rewrite):
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True).eval()
    x, h0, c0 = torch.randn(2, 7, 4), torch.randn(2, 2, 8), torch.randn(2, 2, 8)
    _same(rewrite(lstm)(x, (h0, c0)), lstm(x, (h0, c0)))


@pytest.mark.parametrize("rewrite", [LinearLSTM, WavefrontLSTM])
def test_the_rewrites_handle_unbatched_input(rewrite):
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 8, num_layers=2).eval()
    x, state = torch.randn(5, 4), (torch.randn(2, 8), torch.randn(2, 8))
    _same(rewrite(lstm)(x), lstm(x))
    _same(rewrite(lstm)(x, state), lstm(x, state))


def test_replace_lstms_leaves_the_original_model_alone():
    model = nn.Sequential(nn.LSTM(4, 8))
    rewritten, count = replace_lstms(model)
    assert count == 1 and isinstance(rewritten[0], WavefrontLSTM) and isinstance(model[0], nn.LSTM)


def test_a_model_that_is_an_lstm_itself_is_rewritten():
    rewritten, count = replace_lstms(nn.LSTM(4, 8))
    assert count == 1 and isinstance(rewritten, WavefrontLSTM)


@pytest.mark.parametrize("lstm", [nn.LSTM(4, 8, bidirectional=True), nn.LSTM(4, WAVEFRONT_MAX_HIDDEN + 1, 2)])
def test_a_bidirectional_or_wide_lstm_is_rewritten_layer_by_layer(lstm):
    rewritten, _ = replace_lstms(nn.Sequential(lstm))
    assert isinstance(rewritten[0], LinearLSTM)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_rewrites_lower_to_xnnpack_in_one_piece(tmp_path, bidirectional):
    """Every step of the int8 recurrence is delegated: no portable split/select cuts the graph per step."""
    from edgeq.export.pte import write_pte
    from edgeq.quantize.pt2e import quantize_pt2e
    from edgeq.quantize.spec import QuantSpec

    torch.manual_seed(0)
    model = nn.Sequential(nn.LSTM(4, 16, num_layers=2, batch_first=True, bidirectional=bidirectional)).eval()
    example = (torch.randn(1, 4, 4),)
    quantized = quantize_pt2e(model, example, [example], QuantSpec(scheme="dynamic", engine="qnnpack", format="pte"))
    info = write_pte(quantized.model, example, tmp_path / "lstm.pte")
    assert set(info["ops_outside_backend"]) <= {"aten_full_default"}  # the wavefront's zero state, made once
    if not bidirectional:
        assert info["delegated_subgraphs"] == 1
