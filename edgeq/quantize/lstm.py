"""Rewrite ``nn.LSTM`` as Linear gates so that PT2E can quantize its weights.

``torch.export`` keeps ``nn.LSTM`` as one opaque ``aten.lstm`` op, so the
XNNPACK quantizer never sees its matmuls and the weights stay fp32. The
rewrite computes the same function with two ``nn.Linear`` per layer and
direction (a time loop that export unrolls for the fixed sequence length).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class LinearLSTM(nn.Module):
    """An ``nn.LSTM`` (any layers, bias, batch_first, bidirectional) built from ``nn.Linear`` gates."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if lstm.proj_size:
            raise ValueError("LSTM with proj_size is not supported")
        self.batch_first = lstm.batch_first
        self.num_layers = lstm.num_layers
        self.hidden_size = lstm.hidden_size
        self.directions = 2 if lstm.bidirectional else 1
        self.input_gates = nn.ModuleList()
        self.hidden_gates = nn.ModuleList()
        for layer in range(lstm.num_layers):
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                self.input_gates.append(_linear(lstm, "ih", suffix))
                self.hidden_gates.append(_linear(lstm, "hh", suffix))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if state is None:
            zeros = x.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
            h0, c0 = zeros, zeros
        else:
            h0, c0 = (s.unsqueeze(1) for s in state) if unbatched else state
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                gates_in = self.input_gates[index](x)  # all time steps in one matmul
                h, c = h0[index], c0[index]
                order = range(steps - 1, -1, -1) if direction else range(steps)
                hs = [h] * steps
                for t in order:
                    gates = gates_in[t] + self.hidden_gates[index](h)
                    i, f, g, o = gates.chunk(4, dim=-1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    hs[t] = h
                outputs.append(torch.stack(hs))
                last_h.append(h)
                last_c.append(c)
            x = outputs[0] if self.directions == 1 else torch.cat(outputs, dim=-1)
        h_n, c_n = torch.stack(last_h), torch.stack(last_c)
        if unbatched:
            return x.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n, c_n)


def _linear(lstm: nn.LSTM, kind: str, suffix: str) -> nn.Linear:
    weight = getattr(lstm, f"weight_{kind}{suffix}")
    bias = getattr(lstm, f"bias_{kind}{suffix}", None) if lstm.bias else None
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    return linear


def replace_lstms(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` with every supported ``nn.LSTM`` rewritten; returns it and the count."""
    model = copy.deepcopy(model)
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if isinstance(child, nn.LSTM) and not child.proj_size:
                replacement = LinearLSTM(child)
                parent._modules[name] = replacement
                if name in vars(parent):  # a reserved name kept reachable by edgeq.models.tracing
                    object.__setattr__(parent, name, replacement)
                count += 1
    return model, count
