"""``python -m benchmarks``: measure, write ``benchmarks/results/latest.json`` (and the CLI's start-up,
``cli-startup.json``, the int8 LSTM's lowerings, ``lstm-lowerings.json``, int8 against fp32 Linears,
``int8-ceiling.json``, and the language models against llama.cpp, ``llm.json``), render ``docs/benchmarks.md``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from benchmarks import cli_startup, int8_ceiling, llm, lstm_lowerings
from benchmarks.llm_models import MODELS as LANGUAGE_MODELS
from benchmarks.report import DOC, render
from benchmarks.rounds import write_results
from benchmarks.run import MODELS, RESULTS, Settings, run, write


@click.command()
@click.option("--model", "models", multiple=True, type=click.Choice(MODELS + tuple(LANGUAGE_MODELS)),
              help="Measure only these (repeatable); the language models are timed by benchmarks.llm.")
@click.option("--runs", default=50, type=click.IntRange(min=2), show_default=True, help="Timed runs per variant.")
@click.option("--warmup", default=5, type=click.IntRange(min=0), show_default=True, help="Untimed runs before them.")
@click.option("--threads", default=1, type=click.IntRange(min=1), show_default=True, help="Threads for every runtime.")
@click.option("--processes", default=3, type=click.IntRange(min=1), show_default=True,
              help="Fresh processes per variant; their runs are pooled.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True, help="Raw results JSON.")
@click.option("--doc", type=click.Path(path_type=Path), default=DOC, show_default=True, help="Markdown report.")
def main(models: tuple[str, ...], runs: int, warmup: int, threads: int, processes: int, out: Path,
         doc: Path) -> None:
    """Time PyTorch eager, torch.ao, ExecuTorch and ONNX Runtime, fp32 and int8, on the zoo models, and the language
    models in edgeq's programs against llama.cpp's and ONNX Runtime GenAI's."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(stderr=True, highlight=False, log_path=False, width=None if sys.stderr.isatty() else 140)
    vision = tuple(name for name in models if name in MODELS) if models else MODELS
    language = tuple(name for name in models if name in LANGUAGE_MODELS) if models else tuple(LANGUAGE_MODELS)
    if vision:
        document = run(vision, Settings(runs=runs, warmup=warmup, threads=threads, processes=processes), console)
        write(document, out)
        console.log(f"wrote {out}")
        cli_startup.write(cli_startup.measure(cli_startup.edgeq_executable(), 10), 10, cli_startup.RESULTS)
        console.log(f"timed the CLI's start-up: {cli_startup.RESULTS}")
    elif out.is_file():
        document = json.loads(out.read_text(encoding="utf-8"))  # the page still shows the last run's tables
    if language:
        write_results(llm.merged(llm.measure(language, llm.LlmRounds(), console), llm.RESULTS), llm.RESULTS)
        console.log(f"generated with the language models: {llm.RESULTS}")
    if not vision and not out.is_file():
        console.log(f"no {out} to render the page from: run the other models first")
        return
    if "digits-lstm" in vision:
        settings = lstm_lowerings.DEFAULTS
        lowerings = lstm_lowerings.measure(settings.runs, settings.warmup, settings.processes, console)
        write_results(lowerings, lstm_lowerings.RESULTS)
        console.log(f"timed the int8 LSTM's lowerings: {lstm_lowerings.RESULTS}")
    if "minilm" in vision:
        settings = int8_ceiling.DEFAULTS
        write_results(int8_ceiling.measure(settings.runs, settings.warmup, settings.processes, console),
                      int8_ceiling.RESULTS)
        console.log(f"timed int8 against fp32 Linears at MiniLM's shapes: {int8_ceiling.RESULTS}")
    doc.write_text(render(document), encoding="utf-8")
    console.log(f"wrote {doc}")


if __name__ == "__main__":
    main()
