"""edgeq on an emulated aarch64 board: Debian's arm64 Python, torch 2.9.1 and ExecuTorch 1.0.1 under qemu-user.

The board is reached through the real sshd on loopback with the profile's ``python`` set to the board's, or
through the local transport with the board's commands first on PATH (``python3``, ``uname``, …), so the
device edgeq probes and runs on is the emulated one. Under emulation the runner's
``import torch`` takes seconds, so latencies here say nothing about a real board; versions, architecture and
numbers do.
"""

import json

import pytest
import torch
from arm_board import EXECUTORCH_VERSION, TORCH_VERSION, BoardError, build_board, default_cache_dir
from edgeq_cli import edgeq

from edgeq.bench import BenchSpec, run_bench, runner_path
from edgeq.transport.local import LocalTransport

pytestmark = [pytest.mark.arm, pytest.mark.slow]

RUN_TIMEOUT_S = 900  # two variants, each one runner process that imports torch under qemu (~10 s each), plus quantizing


@pytest.fixture(scope="module")
def board():
    try:
        return build_board(default_cache_dir())
    except BoardError as exc:
        pytest.fail(f"cannot build the emulated ARM board: {exc} (or deselect these tests with -m 'not arm')")


@pytest.fixture
def on_board(board, monkeypatch):
    """Commands edgeq runs through the local transport (uname, python3, …) now run on the board."""
    monkeypatch.setenv("PATH", board.env()["PATH"])
    return board


@pytest.fixture
def board_profile(tmp_path):
    path = tmp_path / "arm-board.toml"
    path.write_text(
        'name = "arm-board"\n'
        'description = "Emulated aarch64 board (qemu-user) with the board\'s commands first on PATH"\n'
        'arch = "aarch64"\nengine = "qnnpack"\ntransport = "local"\npython = "python3"\n'
        'formats = ["pte", "ptl"]\nthreads = 1\n'
        f'workdir = "{tmp_path / "device"}"\n',
        encoding="utf-8",
    )
    return path


def run_on_board(profile, *args):
    proc = edgeq("run", "zoo:digits-cnn", "--profile", str(profile), "--runs", "3", "--warmup", "1", "--json", *args,
                 timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def int8_of(result):
    return next(r for r in result["results"] if r["precision"] == "int8")


def fp32_of(result):
    return next(r for r in result["results"] if r["variant"] == "fp32")


class _SmallNet(torch.nn.Module):
    """A convolution for XNNPACK and an int8 embedding table for ExecuTorch's quantized kernels."""

    def __init__(self):
        super().__init__()
        from edgeq.quantize.embedding import Int8Embedding

        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4 * 6 * 6, 3)
        self.words = Int8Embedding(torch.nn.Embedding(50, 3))

    def forward(self, x, tokens):
        return self.fc(torch.relu(self.conv(x)).flatten(1)) + self.words(tokens).mean(1)


def _runner_on_board(board, artifact, example, samples):
    """edgeq's runner on the board, from the host's files: 3 timed runs, then ``samples`` as check inputs."""
    folder = artifact.parent
    torch.save(example, folder / "inputs.pt")
    torch.save(samples, folder / "check.pt")
    return run_bench(LocalTransport(), python=str(board.python), runner=str(runner_path()), artifact=str(artifact),
                     fmt="pte", engine=None, inputs=str(folder / "inputs.pt"),
                     spec=BenchSpec(runs=3, warmup=1, threads=1, timeout_s=600), check=str(folder / "check.pt"),
                     check_out=str(folder / "device-out.pt"), local_check_out=folder / "out.pt")


def test_board_runs_the_runner_as_aarch64_with_its_own_runtime_and_host_numbers(board, tmp_path):
    from edgeq.export.pte import write_pte

    torch.manual_seed(0)
    model = _SmallNet().eval()
    example = (torch.randn(1, 1, 8, 8), torch.randint(0, 50, (1, 5)))
    samples = [(torch.randn(1, 1, 8, 8), torch.randint(0, 50, (1, 5))) for _ in range(4)]
    backend = write_pte(model, example, tmp_path / "net.pte")  # exported by the host's executorch
    assert backend["needs_kernels"] == ["quantized_decomposed::embedding_byte.out"]  # runs on the board's 1.0.1

    bench = _runner_on_board(board, tmp_path / "net.pte", example, samples)
    assert bench.arch == "aarch64" and board.run(["uname", "-m"]).stdout.strip() == "aarch64"
    assert (bench.versions["torch"], bench.versions["executorch"]) == (TORCH_VERSION, EXECUTORCH_VERSION)
    with torch.no_grad():
        for sample, (out,) in zip(samples, bench.check_outputs, strict=True):
            torch.testing.assert_close(out, model(*sample), atol=1e-4, rtol=1e-4)


def test_edgeq_run_int8_pte_on_the_board_over_ssh_reports_it_and_keeps_accuracy(board, sshd, tmp_path):
    """The board as a deploy target: reached through the real sshd on loopback, its Python the emulated one."""
    profile = tmp_path / "arm-board-ssh.toml"
    profile.write_text('name = "arm-board-ssh"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "ssh"\n'
                       f'python = "{board.python}"\nformats = ["pte"]\nthreads = 1\n'
                       f'workdir = "{tmp_path / "device"}"\n', encoding="utf-8")
    known_hosts = sshd.write_known_hosts(tmp_path / "known_hosts")
    result = run_on_board(profile, "--device", f"ssh://{sshd.user}@127.0.0.1:{sshd.port}",
                          "--identity", str(sshd.client_key), "--known-hosts", str(known_hosts))
    assert result["device"]["transport"] == "ssh"

    device = result["device"]
    assert (device["arch"], device["torch"], device["executorch"]) == ("aarch64", TORCH_VERSION, EXECUTORCH_VERSION)
    int8 = int8_of(result)
    assert (int8["format"], int8["engine"], int8["backend"]["backend"]) == ("pte", "qnnpack", "xnnpack")
    assert fp32_of(result)["accuracy"]["value"] - int8["accuracy"]["value"] <= 1.0
    assert int8["numerics"]["top1_agreement"] >= 0.99


def test_edgeq_run_qnnpack_ptl_on_the_board_reports_it_and_keeps_accuracy(on_board, board_profile):
    result = run_on_board(board_profile, "--format", "ptl")

    device = result["device"]
    assert (device["arch"], device["torch"], device["executorch"]) == ("aarch64", TORCH_VERSION, EXECUTORCH_VERSION)
    int8 = int8_of(result)
    assert (int8["format"], int8["engine"]) == ("ptl", "qnnpack") and int8["artifact"].endswith(".ptl")
    assert fp32_of(result)["accuracy"]["value"] - int8["accuracy"]["value"] <= 1.0


def test_an_fp16_pte_matches_fp32_on_the_board_whose_cpu_has_fp16_arithmetic(board, tmp_path):
    """qemu's emulated CPU implements ARMv8.2 FP16, so XNNPACK runs its fp16 kernels there; only the numbers are
    checked: their speed must be measured on a real core."""
    from edgeq.export.pte import write_pte
    from edgeq.quantize.half import HalfPrecision

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 10)).eval()
    example = (torch.randn(1, 1, 8, 8),)
    samples = [(torch.randn(1, 1, 8, 8),) for _ in range(4)]
    write_pte(HalfPrecision(model), example, tmp_path / "half.pte")
    bench = _runner_on_board(board, tmp_path / "half.pte", example, samples)
    assert bench.arch == "aarch64"
    with torch.no_grad():
        for sample, (out,) in zip(samples, bench.check_outputs, strict=True):
            want = model(*sample)
            assert out.dtype == torch.float32
            assert torch.nn.functional.cosine_similarity(out.flatten(), want.flatten(), dim=0) >= 0.999


def test_an_int8_lstm_pte_runs_on_the_boards_older_executorch_and_keeps_its_states(board, tmp_path):
    """The wavefront LSTM lowering (built by the host's ExecuTorch) on the board's ExecuTorch 1.0.1: the output
    sequence and the (h, c) states all come back, close to fp32."""
    from edgeq.export.pte import write_pte
    from edgeq.quantize.pt2e import quantize_pt2e
    from edgeq.quantize.spec import QuantSpec

    torch.manual_seed(0)
    model = torch.nn.LSTM(4, 16, num_layers=2, batch_first=True).eval()
    example = (torch.randn(1, 6, 4),)
    samples = [(torch.randn(1, 6, 4),) for _ in range(3)]
    quantized = quantize_pt2e(model, example, samples, QuantSpec(scheme="dynamic", engine="qnnpack", format="pte"))
    write_pte(quantized.model, example, tmp_path / "lstm.pte")
    bench = _runner_on_board(board, tmp_path / "lstm.pte", example, samples)
    assert bench.arch == "aarch64"
    with torch.no_grad():
        for sample, outputs in zip(samples, bench.check_outputs, strict=True):
            out, (h, c) = model(*sample)
            assert len(outputs) == 3
            for got, want in zip(outputs, (out, h, c), strict=True):
                assert got.shape == want.shape
                assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) >= 0.99


def test_the_4_bit_language_model_generates_on_the_board_the_greedy_tokens_it_generates_on_the_host(
        board, board_profile, tmp_path, monkeypatch):
    """zoo:tiny-llama's 8da4w-emb4 program (int4 weights and a 4-bit embedding table), exported by ExecuTorch 1.4.1
    on the host, generates on the board's ExecuTorch 1.0.1 (its LLM operators and quantized embedding lookups loaded
    by the runner, checked by the probe before the push) the host's greedy tokens."""
    from edgeq.cache import cache_dir
    from edgeq.export import ArtifactCache
    from edgeq.llm.bench import LlmSettings, measure_llm
    from edgeq.llm.export import build_llm_artifact
    from edgeq.measure import reach
    from edgeq.models.zoo import load_zoo
    from edgeq.profiles import load_profile

    loaded = load_zoo("tiny-llama")
    artifact = build_llm_artifact(loaded.name, loaded.fingerprint, loaded.model, "8da4w-emb4",
                                  ArtifactCache(cache_dir() / "artifacts"), "arm-board")
    settings = LlmSettings(new_tokens=8, processes=1, generations=1, timeout_s=RUN_TIMEOUT_S)
    prompt = loaded.prompts[0][:12]
    say = lambda message: None  # noqa: E731
    host_profile = load_profile("host")
    host = reach(LocalTransport(), host_profile, "pte", None, say)
    on_host = measure_llm(host, artifact, prompt, [], settings, tmp_path)
    monkeypatch.setenv("PATH", board.env()["PATH"])
    device = reach(LocalTransport(), load_profile(board_profile), "pte", None, say)
    on_board = measure_llm(device, artifact, prompt, [], settings, tmp_path)
    assert on_board.arch == "aarch64" and on_board.versions["executorch"] == EXECUTORCH_VERSION
    assert device.facts.kernels.get("llama::custom_sdpa.out") is True
    assert device.facts.kernels.get("quantized_decomposed::embedding_4bit.dtype_out") is True
    assert on_board.tokens == on_host.tokens and len(on_board.tokens) == 8
