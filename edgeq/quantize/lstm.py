"""Rewrite ``nn.LSTM`` as Linear gates so that PT2E can quantize its weights.

``torch.export`` keeps ``nn.LSTM`` as one opaque ``aten.lstm`` op, so the
XNNPACK quantizer never sees its matmuls and the weights stay fp32. The
rewrites compute the same function with ``nn.Linear`` gates and a time loop
that export unrolls for the fixed sequence length.

Both rewrites keep the gate rows as (i, f, o, g), so one sigmoid and one tanh
cover a cell, and slice where an index would leave XNNPACK. A small
unidirectional LSTM becomes a ``WavefrontLSTM``: layer l runs step t in wave
t + l, so all layers work side by side and share one set of gate operators,
which pays while the layers are narrow. Any other becomes a
``LinearLSTM``, one layer and direction at a time, whose input gates for a
whole layer are one batched matmul (``docs/benchmarks.md`` and
``docs/quantization.md`` have the lowerings measured against each other).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeq.quantize.module_paths import replace_module

# torch stores the gate rows as (i, f, g, o); the wavefront keeps them as (i, f, o, g), so one sigmoid covers
# the three gates and one tanh the cell input.
_GATE_ROWS = (0, 1, 3, 2)


class WavefrontLSTM(nn.Module):
    """A unidirectional ``nn.LSTM`` (any layers, bias, batch_first) as Linear gates stepped in waves.

    Per wave each working layer runs one GEMM: layer 0 on its hidden state (its input gates for every step
    come from one matmul up front), layer l on ``[h of layer l-1, h of layer l]``, which sit side by side in
    one state row. The gate math then runs once over all working layers.
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        _check(lstm)
        if lstm.bidirectional:
            raise ValueError("WavefrontLSTM is for unidirectional LSTMs; use LinearLSTM")
        layers, hidden = lstm.num_layers, lstm.hidden_size
        self.num_layers, self.hidden_size, self.batch_first = layers, hidden, lstm.batch_first
        self.input_gates = _gates(lstm.weight_ih_l0, _bias(lstm, "_l0"), hidden)
        self.hidden_gates = _gates(lstm.weight_hh_l0, None, hidden)
        self.layer_gates = nn.ModuleList(
            _gates(torch.cat([getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")], dim=1),
                   _bias(lstm, f"_l{layer}"), hidden)
            for layer in range(1, layers))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        layers, hidden = self.num_layers, self.hidden_size
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0)
        elif not self.batch_first:
            x = x.transpose(0, 1)
        batch, steps = x.shape[0], x.shape[1]
        inputs = self.input_gates(x)  # [B, T, 4H]: layer 0's input gates for every step
        zero_state = state is None
        if zero_state:
            h = x.new_zeros(batch, 1, layers * hidden)  # [B, 1, L*H]: every layer's h in one row
            c = x.new_zeros(batch, layers, hidden)
        else:
            h0, c0 = ((s.unsqueeze(1) if unbatched else s).transpose(0, 1) for s in state)
            h, c = h0.reshape(batch, 1, layers * hidden), c0
        outputs = []
        for wave in range(steps + layers - 1):
            lo, hi = max(0, wave - steps + 1), min(wave, layers - 1) + 1  # layer l works on step wave - l
            gates = []
            for layer in range(lo, hi):
                if layer == 0:
                    step = _part(inputs, 1, wave, wave + 1)
                    first = zero_state and wave == 0  # h is zero: its GEMM adds nothing
                    gates.append(step if first else step + self.hidden_gates(_part(h, 2, 0, hidden)))
                else:
                    gates.append(self.layer_gates[layer - 1](_part(h, 2, (layer - 1) * hidden, (layer + 1) * hidden)))
            h_new, c_new = self._cell(_join(gates, 1), None if zero_state and wave == 0 else _part(c, 1, lo, hi))
            working = hi - lo
            if hi == layers:
                outputs.append(_part(h_new, 1, working - 1, working))
            row = h_new if working == 1 else h_new.reshape(batch, 1, working * hidden)
            h = _join([_part(h, 2, 0, lo * hidden), row, _part(h, 2, hi * hidden, layers * hidden)], 2)
            c = _join([_part(c, 1, 0, lo), c_new, _part(c, 1, hi, layers)], 1)
        out = _join(outputs, 1)  # [B, T, H]
        h_n, c_n = h.reshape(batch, layers, hidden).transpose(0, 1), c.transpose(0, 1)
        if unbatched:
            return out.squeeze(0), (h_n.squeeze(1), c_n.squeeze(1))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, (h_n, c_n)

    def _cell(self, gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell of every working layer at once (``gates`` [B, n, 4H])."""
        return _cell(gates, c, self.hidden_size)


class LinearLSTM(nn.Module):
    """An ``nn.LSTM`` (any layers, bias, batch_first, bidirectional) built from ``nn.Linear`` gates, one layer
    and direction at a time: each layer's input gates for every step come from one matmul, then one GEMM per
    step on the hidden state, and the cell as in ``WavefrontLSTM``."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        _check(lstm)
        self.batch_first = lstm.batch_first
        self.num_layers = lstm.num_layers
        self.hidden_size = lstm.hidden_size
        self.directions = 2 if lstm.bidirectional else 1
        self.input_gates = nn.ModuleList()
        self.hidden_gates = nn.ModuleList()
        for layer in range(lstm.num_layers):
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                self.input_gates.append(_gates(getattr(lstm, f"weight_ih{suffix}"), _bias(lstm, suffix), lstm.hidden_size))
                self.hidden_gates.append(_gates(getattr(lstm, f"weight_hh{suffix}"), None, lstm.hidden_size))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps = x.shape[0]
        if state is not None:
            state = tuple(s.unsqueeze(1) for s in state) if unbatched else state
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer * self.directions + direction
                inputs = self.input_gates[index](x)  # [T, B, 4H]: every step's input gates in one matmul
                h = c = None  # [1, B, H]; None while zero
                if state is not None:
                    h, c = (_part(s, 0, index, index + 1) for s in state)
                hs: list[torch.Tensor | None] = [None] * steps
                for t in range(steps - 1, -1, -1) if direction else range(steps):
                    step = _part(inputs, 0, t, t + 1)
                    gates = step if h is None else step + self.hidden_gates[index](h)
                    h, c = _cell(gates, c, self.hidden_size)
                    hs[t] = h
                outputs.append(_join(hs, 0))
                last_h.append(h)
                last_c.append(c)
            x = _join(outputs, 2)
        h_n, c_n = _join(last_h, 0), _join(last_c, 0)
        if unbatched:
            return x.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n, c_n)


# Above this hidden size the per-layer lowering is faster: its input gates for a whole layer are one batched
# matmul, where the wavefront reads layer l's input weights once per step (docs/quantization.md, "LSTMs").
WAVEFRONT_MAX_HIDDEN = 128


def linear_lstm(lstm: nn.LSTM) -> nn.Module:
    """The rewrite that lowers fastest for ``lstm``: the wavefront for a small unidirectional LSTM, where the
    operators it saves outweigh its unbatched input gates; otherwise one layer at a time."""
    if lstm.bidirectional or lstm.hidden_size > WAVEFRONT_MAX_HIDDEN:
        return LinearLSTM(lstm)
    return WavefrontLSTM(lstm)


def replace_lstms(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` with every supported ``nn.LSTM`` rewritten; returns it and the count."""
    model = copy.deepcopy(model)
    paths = [path for path, module in model.named_modules(remove_duplicate=False)
             if isinstance(module, nn.LSTM) and not module.proj_size]
    if paths == [""]:  # the model is an LSTM itself
        return linear_lstm(model), 1
    for path in paths:
        replace_module(model, path, linear_lstm(model.get_submodule(path)))
    return model, len(paths)


def _check(lstm: nn.LSTM) -> None:
    if lstm.proj_size:
        raise ValueError("LSTM with proj_size is not supported")


def _cell(gates: torch.Tensor, c: torch.Tensor | None, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM cell: ``gates`` [..., 4H] as (i, f, o, g), ``c`` [..., H] (None when zero); the new h and c."""
    sig = torch.sigmoid(gates[..., :3 * hidden])
    cell = torch.tanh(gates[..., 3 * hidden:])
    c_new = sig[..., :hidden] * cell if c is None else sig[..., hidden:2 * hidden] * c + sig[..., :hidden] * cell
    return sig[..., 2 * hidden:] * torch.tanh(c_new), c_new


def _gates(weight: torch.Tensor, bias: torch.Tensor | None, hidden: int) -> nn.Linear:
    """A Linear computing the four gates from ``weight`` and ``bias`` (torch's row order), its rows as (i, f, o, g)."""
    linear = nn.Linear(weight.shape[1], 4 * hidden, bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(_gate_rows(weight, hidden))
        if bias is not None:
            linear.bias.copy_(_gate_rows(bias, hidden))
    return linear


def _bias(lstm: nn.LSTM, suffix: str) -> torch.Tensor | None:
    """Both of a layer's biases as one (they are always added together), or None without biases."""
    return getattr(lstm, f"bias_ih{suffix}") + getattr(lstm, f"bias_hh{suffix}") if lstm.bias else None


def _gate_rows(weight: torch.Tensor, hidden: int) -> torch.Tensor:
    return torch.cat([weight[k * hidden:(k + 1) * hidden] for k in _GATE_ROWS])


def _part(t: torch.Tensor, dim: int, start: int, stop: int) -> torch.Tensor | None:
    """``t[start:stop]`` along ``dim``; ``None`` when empty, ``t`` itself when whole: export keeps a no-op slice
    as an op of its own. A slice, not an index: XNNPACK delegates slices but not ``select``."""
    if start >= stop:
        return None
    if start == 0 and stop == t.shape[dim]:
        return t
    return t.narrow(dim, start, stop - start)


def _join(parts: list[torch.Tensor | None], dim: int) -> torch.Tensor:
    """Concatenate the non-empty ``parts`` (a single one as is: XNNPACK only delegates a cat of two or more)."""
    present = [p for p in parts if p is not None]
    return present[0] if len(present) == 1 else torch.cat(present, dim)
