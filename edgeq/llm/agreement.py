"""How far a language model's logits are from fp32's, teacher-forced: the same prompt tokens fed to both, the
next-token distributions compared at every position."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def compare_logits(reference: Sequence[torch.Tensor], measured: Sequence[torch.Tensor]) -> dict[str, float]:
    """Greedy-token agreement (share of positions whose argmax matches), mean KL divergence of the measured
    distribution from fp32's (nats), and the logits' cosine (mean and worst position), over every position of
    every prompt. Raises ``ValueError`` when the shapes differ."""
    if len(reference) != len(measured):
        raise ValueError(f"{len(measured)} prompts' logits for {len(reference)} prompts")
    matches = positions = 0
    divergences, cosines = [], []
    for expected, got in zip(reference, measured):
        if got.numel() != expected.numel():
            raise ValueError(f"logits of shape {list(got.shape)} where fp32 has {list(expected.shape)}")
        expected, got = expected.double(), got.reshape(expected.shape).double()
        matches += int((expected.argmax(-1) == got.argmax(-1)).sum())
        positions += expected.shape[0]
        log_p, log_q = torch.log_softmax(expected, -1), torch.log_softmax(got, -1)
        divergences.append((log_p.exp() * (log_p - log_q)).sum(-1))
        cosines.append(torch.nn.functional.cosine_similarity(expected, got, dim=-1))
    kl, cosine = torch.cat(divergences), torch.cat(cosines)
    return {"greedy_agreement": matches / positions, "kl_mean": float(kl.mean()), "cosine": float(cosine.mean()),
            "cosine_min": float(cosine.min()), "positions": positions, "prompts": len(reference)}


def eager_logits(model: torch.nn.Module, prompts: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """fp32's logits at every position of each prompt (a causal model's one forward equals feeding it token by
    token)."""
    with torch.no_grad():
        return [_logits(model(torch.tensor([list(prompt)], dtype=torch.long)))[0].float() for prompt in prompts]


def _logits(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output[0] if isinstance(output, (tuple, list)) else output
