"""Two small real models trained on scikit-learn's handwritten digits in seconds.

They give the pipeline a real accuracy to protect without any download: the
data ships with scikit-learn, training is deterministic, and the weights are
cached so only the first use pays for training.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from edgeq.models.types import EvalSet, TrainSet

log = logging.getLogger(__name__)

_WEIGHTS_VERSION = 1
_CALIBRATION_SAMPLES = 128


class DigitsCNN(nn.Module):
    """Conv-BN-ReLU twice, pool, one more conv block, and an MLP head with dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(inplace=True), nn.Dropout(0.2), nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class DigitsLSTM(nn.Module):
    """Reads an 8x8 digit row by row with a 2-layer LSTM and classifies the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 128, num_layers=2, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(rows)
        return self.head(out[:, -1])


def _split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def _shape(kind: str, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 1, 8, 8) if kind == "cnn" else x.reshape(-1, 8, 8)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()


def build(kind: str, cache_dir: Path) -> tuple[nn.Module, tuple[torch.Tensor], EvalSet, list[tuple[torch.Tensor]], TrainSet]:
    """Return the trained model, one example input, the held-out set, calibration inputs and the training set."""
    x_train, x_test, y_train, y_test = _split()
    x_train, x_test = _shape(kind, x_train), _shape(kind, x_test)
    torch.manual_seed(0)
    model = DigitsCNN() if kind == "cnn" else DigitsLSTM()
    weights = cache_dir / f"digits-{kind}-v{_WEIGHTS_VERSION}.pt"
    if weights.is_file():
        model.load_state_dict(torch.load(weights, weights_only=True))
        model.eval()
    else:
        log.info("training digits-%s on %d samples (once; cached in %s)", kind, len(x_train), weights)
        _train(model, x_train, y_train, epochs=25 if kind == "cnn" else 40)
        weights.parent.mkdir(parents=True, exist_ok=True)
        tmp = weights.with_suffix(f".{os.getpid()}.tmp")  # another process may be training into the same cache
        torch.save(model.state_dict(), tmp)
        tmp.replace(weights)
    eval_set = EvalSet(inputs=[(x_test[i:i + 1],) for i in range(len(x_test))], labels=y_test.tolist())
    calibration = [(x_train[i:i + 1],) for i in range(_CALIBRATION_SAMPLES)]
    training = TrainSet(inputs=[(x_train[i:i + 1],) for i in range(len(x_train))], targets=y_train.tolist())
    return model, (x_test[:1].clone(),), eval_set, calibration, training
