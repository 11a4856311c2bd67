"""``python -m benchmarks.llm --model NAME`` keeps the other models' results (no timing; run with
``pytest benchmarks/test_llm_results.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.llm import SCHEMA, merged


def _document(*models: str) -> dict:
    return {"schema": SCHEMA, "date": "now", "models": [{"model": name, "rows": []} for name in models]}


def test_a_model_measured_again_replaces_its_earlier_results_and_keeps_the_others(tmp_path: Path) -> None:
    earlier = _document("tiny-llama", "llama-94m")
    earlier["models"][1]["rows"] = ["old"]
    (tmp_path / "llm.json").write_text(json.dumps(earlier))
    document = merged(_document("llama-94m"), tmp_path / "llm.json")
    assert [model["model"] for model in document["models"]] == ["tiny-llama", "llama-94m"]
    assert document["models"][1]["rows"] == []


def test_without_an_earlier_file_the_run_stands_alone(tmp_path: Path) -> None:
    assert merged(_document("tiny-llama"), tmp_path / "absent.json") == _document("tiny-llama")
