"""``edgeq run``: quantize, export, run on the device and report fp32 against int8."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table

from edgeq.cli.output import human_bytes, human_ms, print_json, stderr, stdout
from edgeq.pipeline import SCHEME_CHOICES, RunOptions, RunResult, run as run_pipeline
from edgeq.profiles import load_profile
from edgeq.selection import DEFAULT_MAX_DROP


@click.command()
@click.argument("model")
@click.option("--profile", "profile_name", default="host", show_default=True, help="Device profile name or TOML path.")
@click.option("--scheme", type=click.Choice(SCHEME_CHOICES), default="auto", show_default=True,
              help="auto picks from the model's layers: dynamic for LSTM/Transformer/MLP, static for conv nets.")
@click.option("--format", "fmt", type=click.Choice(["pte", "ptl"]), default=None,
              help="Artifact format [default: the profile's first].")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed runs per variant.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs before timing.")
@click.option("--threads", type=int, default=None, help="Threads on the device [default: the profile's].")
@click.option("--max-drop", type=float, default=DEFAULT_MAX_DROP, show_default=True,
              help="Accuracy points int8 may lose and still be chosen.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Copy artifacts, manifests and result.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON on stdout.")
def run(model: str, profile_name: str, scheme: str, fmt: str | None, runs: int, warmup: int, threads: int | None,
        max_drop: float, out_dir: Path | None, as_json: bool) -> None:
    """Quantize MODEL for a device, run fp32 and int8 there, and report both.

    MODEL is zoo:NAME (see the README), path/to/file.py:factory, or a saved
    torch.export program (.pt2).
    """
    profile = load_profile(profile_name)
    options = RunOptions(scheme=scheme, format=fmt, runs=runs, warmup=warmup, threads=threads, out_dir=out_dir,
                         max_drop=max_drop)
    with stderr.status("starting", spinner="dots") as status:
        result = run_pipeline(model, profile, options, progress=lambda message: status.update(message))
    if as_json:
        print_json(result.to_dict())
    else:
        _print_table(result)


def _print_table(result: RunResult) -> None:
    data = result.to_dict()
    device = data["device"]
    base = data["results"][0]
    table = Table(title=f"{data['model']} on {data['profile']} ({device['arch']}, engine {base['engine']}, "
                        f".{base['format']}, {device['threads']} thread(s))", box=box.SIMPLE_HEAD, padding=(0, 1),
                  pad_edge=False, caption=f"torch {device['torch']}, executorch {device['executorch']} on the device")
    for column in ("variant", "size", "×fp32", "p50", "cv", "load", "RSS", "accuracy", "cosine"):
        table.add_column(column, justify="left" if column == "variant" else "right", no_wrap=True)
    for row in data["results"]:
        latency = row["latency_ms"]
        accuracy = row["accuracy"]
        numerics = row["numerics"]
        chosen = " *" if row["variant"] == data["chosen"]["variant"] else ""
        table.add_row(
            row["variant"] + ("" if row["scheme"] == "none" else f" {row['scheme']}") + chosen,
            human_bytes(row["size_bytes"]), f"{row['size_bytes'] / base['size_bytes']:.2f}",
            human_ms(latency["p50"]), f"{latency['cv']:.0%}" + ("!" if latency["noisy"] else ""),
            human_ms(row["load_ms"]), f"{row['peak_rss_mb']:.0f} MiB",
            f"{accuracy['value']:.2f}" + ("%" if accuracy["metric"] == "top1" else "") if accuracy else "—",
            f"{numerics['cosine']:.4f}" if numerics else "—",
        )
    stdout.print(table)
    if any(row["latency_ms"]["noisy"] for row in data["results"]):
        stdout.print("[yellow]![/] latency spread (cv) ≥ 10 %: the device was busy or the model is too small to time well")
    stdout.print(f"[bold]chosen:[/] {data['chosen']['variant']} — {data['chosen']['reason']}")
    for row in data["results"]:
        for note in row["notes"]:
            stdout.print(f"[dim]{row['variant']}: {note}[/]")
        outside = (row.get("backend") or {}).get("ops_outside_backend")
        if outside:
            stdout.print(f"[dim]{row['variant']}: ops not delegated to XNNPACK: {', '.join(outside)}[/]")
    if result.out_dir is not None:
        stdout.print(f"artifacts and result.json in {result.out_dir}")
