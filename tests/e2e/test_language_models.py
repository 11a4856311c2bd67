"""Language models on the host profile, end to end: `edgeq run` exports fp32, 8da8w and 8da4w through ExecuTorch's
LLM export, generates with each in fresh runner processes, and compares their logits with fp32's teacher-forced.

The zoo's tiny Llama and the same weights brought as a user's `LlamaForCausalLM.from_pretrained` share their
artifacts (the cache keys on the weights), so the three exports are paid once."""

import functools
import json
import sys
from pathlib import Path

import pytest
from edgeq_cli import edgeq

from edgeq.device import Inventory
from edgeq.digest import file_sha256
from edgeq.lab.plan import LabRequest
from edgeq.lab.scheduler import run_lab
from edgeq.lab.store import open_store
from edgeq.llm.bench import runner_path
from edgeq.transport.local import LocalTransport

# one worker runs the module (make test: --dist loadgroup), so the zoo run and its exports are paid once
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore"), pytest.mark.xdist_group("language-models")]

SCHEMES = ("fp32", "8da8w", "8da4w", "8da4w-emb4")  # what --scheme auto measures
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


def test_a_4_bit_embedding_table_makes_the_smallest_program_and_its_lookups_run_in_the_device_runtime(zoo_run):
    _, result, _ = zoo_run
    rows = _rows(result)
    emb4, weights_only = rows["8da4w-emb4"], rows["8da4w"]
    # the table: 512 x 128 parameters, 256 KiB in fp32, ~40 KiB in 4 bits with a scale per group of 32
    assert weights_only["size_bytes"] - emb4["size_bytes"] >= 180 * 1024
    assert "quantized_decomposed::embedding_4bit.dtype_out" in emb4["backend"]["needs_kernels"]
    assert emb4["precision"] == "int4" and emb4["agreement"]["greedy_agreement"] >= 0.95


def test_the_chosen_program_is_the_fastest_decoder_within_budget_and_the_out_dir_carries_the_tokenizer(zoo_run):
    stdout, result, out = zoo_run
    rows = _rows(result)
    within = [row for row in rows.values() if row["within_budget"]]
    assert result["chosen"]["reason"].startswith("by decode time per token")
    assert result["chosen"]["variant"] in {row["variant"] for row in within}
    assert f"chosen: {result['chosen']['label']}" in stdout
    assert {path.name for path in out.iterdir()} >= {f"{scheme}.pte" for scheme in SCHEMES} | {"tokenizer.json", "result.json"}


def test_a_llama_for_causal_lm_from_pretrained_is_detected_and_measured_the_same_way(zoo_run, tmp_path, monkeypatch):
    from edgeq.models.zoo import load_zoo

    loaded = load_zoo("tiny-llama")
    loaded.model.save_pretrained(tmp_path / "llama")
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_file=str(loaded.tokenizer)).save_pretrained(tmp_path / "llama")
    monkeypatch.setenv("EDGEQ_TEST_LLAMA_DIR", str(tmp_path / "llama"))
    # --scheme 8da4w: fp32 and the one scheme asked for (the zoo run above measures four)
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


class SlowerDecoding(LocalTransport):
    """This machine as a device whose every decoding step takes 1 ms longer (tests/support/slow_llm_runner.py)."""

    def run(self, argv, **kwargs):
        argv = list(argv)
        if "--new-tokens" in argv:  # the LLM runner: [... python RUNNER --artifact ...], perhaps inside the fence
            runner = argv.index("--artifact") - 1
            argv[runner:runner] = [str(SUPPORT / "slow_llm_runner.py")]
        return super().run(argv, **kwargs)


def test_the_lab_measures_a_language_model_in_tokens_per_second_and_its_gate_catches_slower_decoding(tmp_path):
    inventory_path = tmp_path / "edgeq-lab.toml"
    inventory_path.write_text('[devices.board]\nprofile = "host"\naddress = "local"\n')
    inventory = Inventory.load(inventory_path)
    store = open_store(None, default_path=tmp_path / "edgeq-lab.db")
    # static does not apply to a language model: not planned for it; auto is 8da4w
    request = functools.partial(LabRequest, models=("zoo:tiny-llama",), schemes=("none", "auto", "static"), runs=3)
    base = run_lab(inventory, request(label="base"), store=store)
    run_lab(inventory, request(label="slower"), store=store, transport_factory=lambda entry, profile: SlowerDecoding())
    jobs = {job.variant: job for job in base.jobs}
    assert set(jobs) == {"fp32", "8da4w"} and all(job.state == "done" for job in jobs.values()), jobs
    for job in jobs.values():
        measured = job.measurement
        assert len(measured.samples_ms) == 3 * 31  # 3 processes x 1 generation x 31 decoded tokens
        assert measured.metric == "greedy_agreement" and measured.quality >= 95, measured
        assert measured.numerics["positions"] >= 300
    proc = edgeq("lab", "gate", "--baseline", "base", "--run", "slower", "--inventory", str(inventory_path))
    assert proc.returncode == 1, proc.stderr
    for variant in ("fp32", "8da4w"):
        assert f"zoo:tiny-llama/board/{variant}.pte: decode " in proc.stderr and " tokens/s vs " in proc.stderr
    assert "slower" in proc.stdout and "Traceback" not in proc.stderr


def test_inspect_ranks_a_language_models_linear_layers_by_the_divergence_4_bit_weights_add_alone():
    proc = edgeq("inspect", "zoo:tiny-llama", "--samples", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "causal-lm" and report["scheme"] == "8da4w" and report["prompts"] == 2
    layers = report["layers"]
    assert len(layers) == 4 * 7 + 1  # q, k, v, o, gate, up and down of each of the 4 blocks, and the output layer
    sensitivities = [layer["sensitivity"] for layer in layers]
    assert sensitivities == sorted(sensitivities, reverse=True) and sensitivities[-1] > 0
    assert all(0.02 < layer["weight_error"] < 0.3 for layer in layers)  # int4 in groups of 32 loses a few % of W
    assert report["whole"]["greedy_agreement"] >= 0.95 and report["whole"]["kl_mean"] > sensitivities[0]
    proc = edgeq("inspect", "zoo:tiny-llama", "--scheme", "static")
    assert proc.returncode == 2 and "is a language model" in proc.stderr and "Traceback" not in proc.stderr


def test_deploy_pushes_a_language_models_programs_with_the_llm_runner_and_the_tokenizer(zoo_run):
    proc = edgeq("deploy", "zoo:tiny-llama", "--profile", "host", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [artifact["variant"] for artifact in result["artifacts"]] == ["fp32", "8da4w"]  # auto: 8da4w
    for artifact in result["artifacts"]:
        assert file_sha256(Path(artifact["remote"])) == artifact["sha256"]
        tokenizer = Path(artifact["tokenizer"])
        assert json.loads(tokenizer.read_text())["model"]["type"] == "BPE"
    assert Path(result["runner"]).read_bytes() == runner_path().read_bytes()
