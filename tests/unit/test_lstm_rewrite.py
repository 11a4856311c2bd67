import pytest
import torch
from torch import nn

from edgeq.quantize.lstm import LinearLSTM, replace_lstms


@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, True), (2, False, False), (2, True, True)])
def test_linear_lstm_computes_what_nn_lstm_computes(layers, bidirectional, batch_first):
    torch.manual_seed(0)
    lstm = nn.LSTM(6, 10, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first).eval()
    x = torch.randn(3, 5, 6)
    expected_out, (expected_h, expected_c) = lstm(x)
    out, (h, c) = LinearLSTM(lstm)(x)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(h, expected_h)
    torch.testing.assert_close(c, expected_c)


def test_linear_lstm_accepts_an_initial_state():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True).eval()
    x, h0, c0 = torch.randn(2, 7, 4), torch.randn(2, 2, 8), torch.randn(2, 2, 8)
    expected, _ = lstm(x, (h0, c0))
    got, _ = LinearLSTM(lstm)(x, (h0, c0))
    torch.testing.assert_close(got, expected)


def test_linear_lstm_handles_unbatched_input():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 8).eval()
    x = torch.randn(5, 4)
    torch.testing.assert_close(LinearLSTM(lstm)(x)[0], lstm(x)[0])


def test_replace_lstms_leaves_the_original_model_alone():
    model = nn.Sequential(nn.LSTM(4, 8))
    rewritten, count = replace_lstms(model)
    assert count == 1 and isinstance(rewritten[0], LinearLSTM) and isinstance(model[0], nn.LSTM)
