"""Models shaped like the ones users bring, as file.py:factory sources for `edgeq run`."""

import torch
from torch import nn


class _InvertedResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels * 4
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish(inplace=True))
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.Hardswish(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.project(self.depthwise(self.expand(x)))


class DepthwiseNet(nn.Module):
    """MobileNetV3-style: depthwise convs, hardswish, residual adds, BatchNorm, dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(*[_InvertedResidual(16) for _ in range(3)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def depthwise_net():
    torch.manual_seed(0)
    model = DepthwiseNet()  # left in train mode on purpose: edgeq must switch it to eval
    generator = torch.Generator().manual_seed(0)
    return model, (torch.randn(1, 3, 32, 32, generator=generator),)


class TwoInTwoOut(nn.Module):
    """An image and a feature vector in; class logits and a regression out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.classes = nn.Linear(64, 5)
        self.value = nn.Linear(64, 1)

    def forward(self, image, extra):
        joint = torch.cat([self.conv(image), self.features(extra)], dim=1)
        return self.classes(joint), self.value(joint)


def two_in_two_out():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    return TwoInTwoOut().eval(), (torch.randn(1, 3, 16, 16, generator=generator), torch.randn(1, 8, generator=generator))


class TokenLSTM(nn.Module):
    """Embedding and a 2-layer LSTM with dropout; returns logits and the (h, c) state."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(500, 32)
        self.lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True, dropout=0.1)
        self.classify = nn.Linear(64, 4)

    def forward(self, tokens):
        out, (h, c) = self.lstm(self.embed(tokens))
        return self.classify(out[:, -1]), (h, c)


def embedding_lstm():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = TokenLSTM()
    tokens = torch.randint(0, 500, (1, 16), generator=generator)
    samples = [(torch.randint(0, 500, (1, 16), generator=generator),) for _ in range(20)]
    # an evaluation set: labels are the fp32 model's own predictions, so accuracy measures int8 agreement
    with torch.no_grad():
        labels = [int(model.eval()(*s)[0].argmax()) for s in samples]
    return model, (tokens,), list(zip([s[0] for s in samples], labels))


class WithMeta(nn.Module):
    """Submodules named like torch.fx internals ("meta", "graph")."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = nn.Linear(16, 32)
        self.graph = nn.Sequential(nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        return self.graph(self.meta(x))


def with_meta():
    torch.manual_seed(0)
    return WithMeta(), torch.randn(1, 16)


class ValueBranch(nn.Module):
    """Branches on a tensor's value: torch.export cannot capture that."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return self.b(x)


def value_branch():
    return ValueBranch(), (torch.ones(1, 4),)


def not_a_model():
    return "model", torch.ones(1)


def broken_factory():
    raise RuntimeError("weights file missing")


def outlier_weights_cnn():
    """The trained digits CNN with one damaged layer: ``features.3`` has an outlier weight in every filter.

    The outliers read an input channel that ReLU always zeroes (its BatchNorm
    bias is negative, its scale tiny), so fp32 is untouched; int8, whose
    per-channel scale must cover the outlier, rounds the filters' real weights
    to almost nothing. Returns the model, its example, evaluation set and
    training set, like a user's factory.
    """
    import edgeq

    loaded = edgeq.load_model("zoo:digits-cnn")
    model = loaded.model
    dead = 5
    with torch.no_grad():
        model.features[1].weight[dead] = 1e-3
        model.features[1].bias[dead] = -1.0
        conv = model.features[3]
        conv.weight[:, dead] = 0.0
        conv.weight[:, dead, 1, 1] = 200.0 * conv.weight.abs().max()
    return model, loaded.example_inputs, loaded.eval_set, loaded.training
