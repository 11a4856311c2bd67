from torch import nn

from edgeq.quantize import choose_scheme


def test_lstm_models_get_dynamic():
    assert choose_scheme(nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 4)))[0] == "dynamic"


def test_transformers_get_dynamic():
    assert choose_scheme(nn.TransformerEncoderLayer(16, 2))[0] == "dynamic"


def test_conv_nets_get_static():
    assert choose_scheme(nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 10)))[0] == "static"


def test_mlps_get_dynamic():
    assert choose_scheme(nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 2)))[0] == "dynamic"
