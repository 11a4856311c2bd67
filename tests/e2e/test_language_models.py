"""Language models on the host profile, end to end: `edgeq run` exports fp32, 8da8w and 8da4w through ExecuTorch's
LLM export, generates with each in fresh runner processes, and compares their logits with fp32's teacher-forced.

The zoo's tiny Llama and the same weights brought as a user's `LlamaForCausalLM.from_pretrained` share their
artifacts (the cache keys on the weights), so the three exports are paid once."""

import json
import sys
from pathlib import Path

import pytest
from edgeq_cli import edgeq

# one worker runs the module (make test: --dist loadgroup), so the zoo run and its exports are paid once
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore"), pytest.mark.xdist_group("language-models")]

SCHEMES = ("fp32", "8da8w", "8da4w")
SUPPORT = Path(__file__).resolve().parent.parent / "support"


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-llama")
    proc = edgeq("run", "zoo:tiny-llama", "--profile", "host", "--new-tokens", "8", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads((out / "result.json").read_text()), out


def _rows(result: dict) -> dict:
    return {row["variant"]: row for row in result["results"]}


def test_the_zoo_llama_shows_each_scheme_with_first_token_decode_speed_size_memory_and_agreement(zoo_run):
    stdout, result, _ = zoo_run
    rows = _rows(result)
    assert result["task"] == "causal-lm" and set(rows) == set(SCHEMES)
    for scheme in SCHEMES:
        row = rows[scheme]
        assert row["status"] == "ok", row
        assert row["first_token_ms"]["p50"] > 0 and row["decode_tokens_per_s"] > 0 and row["prefill_tokens_per_s"] > 0
        assert row["model_rss_mb"] is not None and row["size_bytes"] > 0
        assert row["same_tokens"], f"{scheme}: greedy decoding did not repeat itself"
        assert f"{scheme} .pte" in stdout
    # 3 processes x 2 generations x 7 decoded tokens per generation
    assert rows["fp32"]["latency_ms"]["runs"] == 42
    for header in ("first token", "decode", "greedy", "tok/s"):
        assert header in stdout


def test_fp32_pte_computes_the_eager_logits_and_4_bit_keeps_its_greedy_tokens_at_a_third_of_the_size(zoo_run):
    _, result, _ = zoo_run
    rows = _rows(result)
    assert rows["fp32"]["agreement"]["greedy_agreement"] == 1.0
    assert rows["fp32"]["agreement"]["cosine_min"] >= 0.9999
    assert result["prompts"]["count"] == 8 and result["prompts"]["positions"] >= 300
    assert rows["8da4w"]["size_bytes"] <= 0.35 * rows["fp32"]["size_bytes"]
    assert rows["8da4w"]["agreement"]["greedy_agreement"] >= 0.95
    assert rows["8da8w"]["agreement"]["greedy_agreement"] >= rows["8da4w"]["agreement"]["greedy_agreement"] - 0.02
    assert rows["8da4w"]["agreement"]["kl_mean"] > rows["8da8w"]["agreement"]["kl_mean"] > 0


def test_the_chosen_program_is_the_fastest_decoder_within_budget_and_the_out_dir_carries_the_tokenizer(zoo_run):
    stdout, result, out = zoo_run
    rows = _rows(result)
    within = [row for row in rows.values() if row["within_budget"]]
    assert result["chosen"]["reason"].startswith("by decode time per token")
    assert result["chosen"]["variant"] in {row["variant"] for row in within}
    assert f"chosen: {result['chosen']['label']}" in stdout
    assert {path.name for path in out.iterdir()} >= {"fp32.pte", "8da8w.pte", "8da4w.pte", "tokenizer.json", "result.json"}


def test_a_llama_for_causal_lm_from_pretrained_is_detected_and_measured_the_same_way(zoo_run, tmp_path, monkeypatch):
    from edgeq.models.zoo import load_zoo

    loaded = load_zoo("tiny-llama")
    loaded.model.save_pretrained(tmp_path / "llama")
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_file=str(loaded.tokenizer)).save_pretrained(tmp_path / "llama")
    monkeypatch.setenv("EDGEQ_TEST_LLAMA_DIR", str(tmp_path / "llama"))
    # --scheme 8da4w: fp32 and the one scheme asked for (the zoo run above measures all three)
    proc = edgeq("run", f"{SUPPORT / 'user_llm.py'}:llama_from_pretrained", "--profile", "host", "--scheme", "8da4w",
                 "--new-tokens", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    rows = _rows(result)
    assert result["task"] == "causal-lm" and set(rows) == {"fp32", "8da4w"}
    assert all(row["cached"] for row in rows.values()), "the same weights must reuse the zoo's artifacts"
    assert rows["fp32"]["agreement"]["greedy_agreement"] == 1.0 and rows["8da4w"]["agreement"]["greedy_agreement"] >= 0.95
    assert rows["8da4w"]["size_bytes"] <= 0.35 * rows["fp32"]["size_bytes"]
    assert all(row["decode_tokens_per_s"] > 0 and row["first_token_ms"]["p50"] > 0 for row in rows.values())
    assert result["prompts"]["count"] == 1  # the factory's prompt: its example input ids


def test_task_causal_lm_on_a_model_that_is_not_one_is_one_line_and_exit_2():
    proc = edgeq("run", f"{SUPPORT / 'user_models.py'}:plain_mlp", "--profile", "host", "--task", "causal-lm")
    assert proc.returncode == 2
    assert "is not a causal language model" in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1


def test_a_causal_lm_the_export_cannot_take_is_refused_by_name_or_measured_as_one_forward_pass():
    source = f"{SUPPORT / 'hf_models.py'}:gpt2_lm"
    refused = edgeq("run", source, "--profile", "host", "--task", "causal-lm")
    assert refused.returncode == 2, refused.stderr
    assert "GPT2LMHeadModel" in refused.stderr and "Llama" in refused.stderr and "Traceback" not in refused.stderr
    forward = edgeq("run", source, "--profile", "host", "--scheme", "none", "--runs", "3", "--warmup", "1", "--json")
    assert forward.returncode == 0, forward.stderr
    result = json.loads(forward.stdout)
    assert [row["variant"] for row in result["results"]] == ["fp32"] and result["results"][0]["latency_ms"]["p50"] > 0
    assert any("GPT2LMHeadModel" in warning and "one fixed-length forward pass" in warning
               for warning in result["warnings"])


BLOCK_LLM_OPERATORS = '''
import sys


class _NoLlmOperators:
    """A device whose ExecuTorch was built without the LLM operators."""

    def find_spec(self, name, path=None, target=None):
        if name.startswith("executorch.extension.llm.custom_ops"):
            raise ImportError(f"{name} is not part of this runtime")
        return None


sys.meta_path.insert(0, _NoLlmOperators())
'''


def test_a_runtime_without_the_llm_operators_is_refused_before_anything_is_pushed(zoo_run, tmp_path):
    """The probe asks the device's runtime for llama::custom_sdpa and llama::update_cache; a runtime without them
    gets the program refused with the reason, and the device never receives it."""
    from dataclasses import replace

    from edgeq.errors import BenchError
    from edgeq.pipeline import RunOptions, run
    from edgeq.profiles import load_profile
    from edgeq.transport import LocalTransport

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_LLM_OPERATORS)
    python = tmp_path / "python-without-llm-operators"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    device = replace(load_profile("host"), python=str(python), workdir=str(tmp_path / "device"))
    with pytest.raises(BenchError) as refused:
        run("zoo:tiny-llama", device, RunOptions(scheme="none", new_tokens=4), transport=LocalTransport())
    assert "lacks llama::custom_sdpa.out, llama::update_cache.out" in refused.value.message
    assert "a language model's KV cache and attention" in refused.value.message and "not pushed" in refused.value.message
    assert "custom_ops" in refused.value.hint
    assert not (tmp_path / "device" / "artifacts").exists()
