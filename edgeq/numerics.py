"""How far an artifact's outputs are from the fp32 eager model on the same inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

# int8 output scales bottom out at float32's eps (~1.2e-7, the observers' smallest scale) and cosine's eps
# (1e-12 on the product of two norms) swamps vectors this small: below it no comparison means anything.
_VANISHING = 1e-6


def flatten_outputs(outputs: Any) -> list[torch.Tensor]:
    """Tensor leaves of a model's outputs, in pytree order (matches the runner's flattening)."""
    return [t for t in torch.utils._pytree.tree_flatten(outputs)[0] if isinstance(t, torch.Tensor)]


def compare_outputs(reference: Sequence[Sequence[torch.Tensor]], candidate: Sequence[Sequence[torch.Tensor]]) -> dict[str, float]:
    """``max_abs_err`` over every output; ``cosine`` mean per sample of all outputs concatenated;
    ``top1_agreement`` of the first output's argmax (the class a classifier would report)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference samples but {len(candidate)} candidate samples")
    max_err, cosines, agree = 0.0, [], 0
    for ref, got in zip(reference, candidate):
        if len(ref) != len(got):
            raise ValueError(f"the model gives {len(ref)} outputs but the artifact gave {len(got)}")
        for r, g in zip(ref, got):
            if r.shape != g.shape:
                raise ValueError(f"output shape {tuple(g.shape)} differs from fp32's {tuple(r.shape)}")
        r_flat = torch.cat([r.detach().float().reshape(-1) for r in ref])
        g_flat = torch.cat([g.detach().float().reshape(-1) for g in got])
        if r_flat.numel():
            max_err = max(max_err, (r_flat - g_flat).abs().max().item())
            cosines.append(torch.nn.functional.cosine_similarity(r_flat, g_flat, dim=0, eps=1e-12).item())
        agree += int(ref[0].reshape(-1).argmax().item() == got[0].reshape(-1).argmax().item()) if ref[0].numel() else 1
    return {
        "max_abs_err": max_err,
        "cosine": sum(cosines) / len(cosines) if cosines else 1.0,
        "top1_agreement": agree / len(reference),
        "samples": len(reference),
    }


def cannot_judge(reference: Sequence[Sequence[torch.Tensor]]) -> str | None:
    """Why comparing outputs with ``reference`` (fp32's outputs on the check samples) says nothing, or None when
    it can say something: every value ~0 (a cosine of noise, an int8 output of zeros), or every value the same
    (no argmax, nothing to agree on)."""
    values = [t.detach().float().reshape(-1) for sample in reference for t in sample if t.numel()]
    if not values:
        return None
    flat = torch.cat(values)
    samples = f"{len(reference)} check sample{'' if len(reference) == 1 else 's'}"
    peak = flat.abs().max().item()
    if peak < _VANISHING:
        return f"its outputs on the {samples} are all " + ("0" if peak == 0 else f"within {peak:.1g} of 0")
    if flat.numel() > 1 and (flat.max() - flat.min()).item() == 0:
        return f"its outputs on the {samples} are all {flat[0].item():.6g}"
    return None


NOISE_DB = 40.0  # about what one int8 rounding adds to a well-ranged tensor (a few dB under int8's ~48 dB)
AMPLIFIES = 0.01  # 1 - cosine above which the float model is said to amplify such noise


def noise_amplification(forward: Any, samples: Sequence[tuple[Any, ...]], reference: Sequence[Sequence[torch.Tensor]],
                        snr_db: float = NOISE_DB) -> float | None:
    """1 - cosine of the float model's outputs when Gaussian noise ``snr_db`` below each floating-point input is
    added: how much the model itself grows an error of int8's size. A trained net barely moves (1e-4); a net
    that turns it into a visible change compounds every layer's int8 rounding, and keeping a few layers in fp32
    cannot undo that. None when no input is floating-point (token ids cannot take noise)."""
    generator = torch.Generator().manual_seed(0)

    def noisy(leaf: Any) -> Any:
        if not isinstance(leaf, torch.Tensor) or not leaf.dtype.is_floating_point or not leaf.numel():
            return leaf
        rms = leaf.float().pow(2).mean().sqrt()
        noise = torch.randn(leaf.shape, generator=generator) * rms * 10 ** (-snr_db / 20)
        return leaf + noise.to(leaf.dtype)

    if not any(isinstance(leaf, torch.Tensor) and leaf.dtype.is_floating_point
               for sample in samples for leaf in torch.utils._pytree.tree_flatten(sample)[0]):
        return None
    with torch.no_grad():
        outputs = [flatten_outputs(forward(*torch.utils._pytree.tree_map(noisy, sample))) for sample in samples]
    return 1.0 - compare_outputs(reference, outputs)["cosine"]


def amplification_note(error: float | None, layers: int) -> str | None:
    """What ``noise_amplification`` means for int8, when it means something."""
    if error is None or error < AMPLIFIES:
        return None
    return (f"the float model amplifies small errors: noise {NOISE_DB:.0f} dB below its inputs (about one int8 "
            f"rounding) moves its outputs by 1 - cosine {error:.2g}, so int8's rounding compounds through its {layers} "
            "layers and keeping a few of them in fp32 cannot undo it (a trained checkpoint barely moves; QAT can "
            "train the model to tolerate int8)")
