"""Models shaped like the ones users bring, as file.py:factory sources for `edgeq run`."""

import collections
import dataclasses

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
    # 8 tokens: ExecuTorch lowers each LSTM step as XNNPACK subgraphs of its own (~1 s of lowering a step)
    tokens = torch.randint(0, 500, (1, 8), generator=generator)
    samples = [(torch.randint(0, 500, (1, 8), generator=generator),) for _ in range(20)]
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


def outlier_activation_mlp():
    """A digits MLP, trained in a second, whose hidden layer has one outlier channel: ``hidden`` computes its
    busiest channel at 300× its trained scale and ``head`` reads it at 1/300, so fp32 is untouched (ReLU passes
    a positive scale through), but one int8 scale for the whole activation must cover that channel and rounds
    the other 63 to almost nothing. Every weight is fine per channel: the cause is the activation, not a layer."""
    torch.manual_seed(0)
    model = nn.Sequential(collections.OrderedDict(
        flatten=nn.Flatten(), hidden=nn.Linear(64, 64), relu=nn.ReLU(), head=nn.Linear(64, 10)))
    x, y = _digits()
    train_x, train_y, test_x, test_y = x[:500], y[:500], x[500:], y[500:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        busiest = int(model.relu(model.hidden(model.flatten(train_x))).mean(0).argmax())
        model.hidden.weight[busiest] *= 300.0
        model.hidden.bias[busiest] *= 300.0
        model.head.weight[:, busiest] /= 300.0
    evaluation = [(test_x[i:i + 1], int(test_y[i])) for i in range(len(test_x))]
    return model.eval(), (test_x[:1].clone(),), evaluation



def plain_mlp():
    """A bare ``nn.Sequential`` MLP with its example input and nothing else: no evaluation data, no calibration
    set, so edgeq judges it on that one sample. Wide enough (5 M weights) that its int8 variants beat fp32 here."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    return model, (torch.randn(1, 512, generator=torch.Generator().manual_seed(0)),)


def vanishing_logits_mlp():
    """A random-init MLP whose head is scaled to ~1e-39, so every logit is ~1e-40: int8 and even XNNPACK's fp32
    (denormals flushed) give zeros, and no comparison of outputs can tell its variants apart."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        model[2].weight.mul_(1e-39)
        model[2].bias.zero_()
    return model, (torch.randn(1, 64, generator=torch.Generator().manual_seed(0)),)

# -- Shapes users bring: top-level containers, tied weights, buffers, token ids, keywords, structured outputs --

def _digits(count: int = 600) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return torch.tensor(data.data[:count], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0, torch.tensor(data.target[:count])


def sequential_cnn():
    """The commonest user model: a plain top-level ``nn.Sequential`` CNN with BatchNorm (parameters ``0.weight``…),
    trained for a few seconds on digits, handed over in train mode, with a held-out evaluation set."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 4 * 4, 10),
    )
    x, y = _digits()
    train_x, train_y, test_x, test_y = x[:500], y[:500], x[500:], y[500:]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        for start in range(0, len(train_x), 50):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(train_x[start:start + 50]), train_y[start:start + 50]).backward()
            optimizer.step()
    evaluation = [(test_x[i:i + 1], int(test_y[i])) for i in range(len(test_x))]
    return model, (test_x[:1].clone(),), evaluation


@dataclasses.dataclass
class TaggerOutput:
    logits: torch.Tensor
    hidden: torch.Tensor
    attentions: tuple[torch.Tensor, ...] | None = None
    note: str = "tags"


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, width * 2)
        self.down = nn.Linear(width * 2, width)

    def forward(self, x):
        return x + self.down(nn.functional.gelu(self.up(self.norm(x))))


class TokenTagger(nn.Module):
    """Token ids in; an ``nn.ModuleList`` of blocks; a positional table kept as a buffer; the output projection
    tied to the embedding; a dataclass out (with a ``None`` field and a string)."""

    def __init__(self, vocab: int = 300, width: int = 32, length: int = 24) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.register_buffer("positions", torch.randn(length, width) * 0.1)
        self.blocks = nn.ModuleList(_Block(width) for _ in range(3))
        self.project = nn.Linear(width, vocab, bias=False)
        self.project.weight = self.embed.weight  # tied

    def forward(self, tokens):
        x = self.embed(tokens) + self.positions[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return TaggerOutput(logits=self.project(x), hidden=x)


def token_tagger():
    torch.manual_seed(0)
    model = TokenTagger()
    generator = torch.Generator().manual_seed(0)
    return model, (torch.randint(0, 300, (1, 16), generator=generator),)


class MultiTaskHeads(nn.Module):
    """A conv trunk and an ``nn.ModuleDict`` of heads; keyword-style inputs (one optional, one keyword-only);
    a dict out with a ``None`` entry and a nested tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                   nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = nn.ModuleDict({"classes": nn.Linear(32, 6), "boxes": nn.Linear(32, 4), "quality": nn.Linear(32, 1)})

    def forward(self, image, mask=None, *, temperature):
        features = self.trunk(image if mask is None else image * mask)
        logits = self.heads["classes"](features) / temperature
        return {"logits": logits, "aux": None, "geometry": (self.heads["boxes"](features), self.heads["quality"](features))}


def multitask_heads():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, 16, 16, generator=generator)
    inputs = {"image": image, "mask": (image > -1.5).float(), "temperature": torch.tensor(2.0)}
    return MultiTaskHeads(), inputs


class Float64Head(nn.Module):
    """Features in float32, the scoring head in float64 for numerical headroom (as risk and physics models do):
    no int8 flow quantizes float64 arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Linear(16, 32)
        self.score = nn.Linear(32, 4).double()

    def forward(self, x):
        return self.score(torch.relu(self.features(x)).double()).float()


def float64_head():
    torch.manual_seed(0)
    return Float64Head(), (torch.randn(1, 16, generator=torch.Generator().manual_seed(0)),)


class SpectralMixer(nn.Module):
    """FNet-style token mixing with an FFT (real part of a 2-D transform), then an MLP: ExecuTorch's
    edge dialect refuses the complex intermediate, the TorchScript lite interpreter runs it."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.inp = nn.Linear(8, width)
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width * 2), nn.GELU(), nn.Linear(width * 2, width))
        self.out = nn.Linear(width, 3)

    def forward(self, x):
        x = self.inp(x)
        x = x + torch.fft.fft2(x).real
        x = x + self.mlp(x)
        return self.out(x.mean(dim=1))


def spectral_mixer():
    torch.manual_seed(0)
    return SpectralMixer(), (torch.randn(1, 12, 8, generator=torch.Generator().manual_seed(0)),)
