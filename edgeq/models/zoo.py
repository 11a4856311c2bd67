"""Built-in models: two trained on real data for accuracy, two published architectures for speed, one NLP model, and
a small language model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from edgeq.cache import cache_dir
from edgeq.errors import ModelError
from edgeq.models.types import LoadedModel


@dataclass(frozen=True)
class ZooEntry:
    name: str
    description: str
    build: Callable[[], LoadedModel]


def _digits(kind: str) -> LoadedModel:
    from edgeq.models import digits

    model, example, eval_set, calibration, training = digits.build(kind, cache_dir() / "zoo")
    return LoadedModel(
        name=f"zoo:digits-{kind}", model=model, example_inputs=example, eval_set=eval_set,
        calibration=calibration, training=training, fingerprint=f"zoo:digits-{kind}",
        description=ZOO[f"digits-{kind}"].description,
    )


def _vision(name: str) -> LoadedModel:
    from edgeq.models import architectures

    torch.manual_seed(0)
    factory = architectures.mobilenet_v2 if name == "mobilenet-v2" else architectures.resnet18
    model = factory()
    images = _images(seed=1, count=8)
    _set_batchnorm_statistics(model, torch.cat([image for (image,) in images]))
    return LoadedModel(
        name=f"zoo:{name}", model=model, example_inputs=images[0], calibration=images,
        check_inputs=_images(seed=2, count=32),  # unseen by calibration, so static int8 is not judged on its own data
        # random weights give near-tied logits whose argmax flips on any noise: the outputs' cosine is the honest measure
        default_metric="cosine",
        fingerprint=f"zoo:{name}", description=ZOO[name].description,
    )


def _images(seed: int, count: int) -> list[tuple[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [(torch.rand(1, 3, 224, 224, generator=generator) * 2 - 1,) for _ in range(count)]


def _set_batchnorm_statistics(model: torch.nn.Module, batch: torch.Tensor) -> None:
    """Give a randomly initialised net the BatchNorm statistics of real activations.

    Fresh BatchNorm layers normalise nothing (mean 0, variance 1), so MobileNetV2's
    activations shrink to ~1e-10 by the last block and int8 rounds them all to
    zero; a trained net never looks like that. One pass in train mode with a
    cumulative average sets the statistics from the data, as a trained net has.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(batch)
    model.eval()


def _minilm() -> LoadedModel:
    try:
        from edgeq.models import minilm

        model, example = minilm.load_minilm()
        sentences = minilm.tokenize(minilm.sentences())
    except ImportError as exc:
        raise ModelError(f"zoo:minilm is not available: {exc}") from exc
    return LoadedModel(
        name="zoo:minilm", model=model.eval(), example_inputs=example, calibration=sentences[:32], check_inputs=sentences,
        default_metric="cosine",
        fingerprint="zoo:minilm", description=ZOO["minilm"].description,
    )


def _tiny_llama() -> LoadedModel:
    try:
        from edgeq.llm import tiny_llama

        model, tokenizer = tiny_llama.build()
    except ImportError as exc:
        raise ModelError(f"zoo:tiny-llama is not available: {exc}", hint="install the nlp extra") from exc
    prompts = [tiny_llama.encode(tokenizer, text) for text in tiny_llama.prompts()]
    return LoadedModel(
        name="zoo:tiny-llama", model=model, example_inputs=(torch.tensor([prompts[0]]),), task="causal-lm",
        prompts=prompts, tokenizer=tiny_llama.tokenizer_path(), fingerprint="zoo:tiny-llama",
        description=ZOO["tiny-llama"].description,
    )


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry("digits-cnn", "3-block CNN with BatchNorm on sklearn digits (8x8), trained in seconds", lambda: _digits("cnn")),
        ZooEntry("digits-lstm", "2-layer LSTM reading sklearn digits row by row, trained in seconds", lambda: _digits("lstm")),
        ZooEntry("mobilenet-v2", "MobileNetV2 1.0 (224x224, deterministic random init; for speed, not accuracy)", lambda: _vision("mobilenet-v2")),
        ZooEntry("resnet-18", "ResNet-18 (224x224, deterministic random init; for speed, not accuracy)", lambda: _vision("resnet-18")),
        ZooEntry("minilm", "all-MiniLM-L6-v2 sentence embedder, 32 tokens (needs the nlp extra)", _minilm),
        ZooEntry("tiny-llama", "Llama-architecture language model (0.9 M parameters) and byte-level BPE tokenizer, "
                               "both made by edgeq from text it ships (needs the nlp extra)", _tiny_llama),
    )
}


def load_zoo(name: str) -> LoadedModel:
    entry = ZOO.get(name)
    if entry is None:
        raise ModelError(f"no zoo model named {name!r}", hint=f"known: {', '.join(ZOO)}")
    return entry.build()
