"""The ``edgeq`` command: parsing, one library call per command, printing; errors mapped to exit codes here."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

import click
from edgeq.cli.output import line, stderr
from edgeq.cli.devices import clean, deploy, doctor
from edgeq.cli.inspect import inspect
from edgeq.cli.lab import lab
from edgeq.cli.package import keygen, package, verify
from edgeq.cli.profiles import profiles
from edgeq.cli.run import run
from edgeq.errors import EdgeqError


def _quiet_third_party(debug: bool) -> None:
    """torch, torchao and executorch warn loudly about their own deprecations; users need none of it."""
    level = logging.DEBUG if debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not debug:
        warnings.filterwarnings("ignore")
        for noisy in ("torchao", "torch", "executorch", "root"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
        # torch is imported later, by the command that needs it, and its import resets the "torch" logger to
        # WARNING; "-all" makes that import set ERROR instead.
        os.environ.setdefault("TORCH_LOGS", "-all")


class _Group(click.Group):
    """Maps ``EdgeqError`` to its exit code and one line; any other exception is a bug (exit 4)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeqError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            line(("error:", "bold red"), " ", exc.message, console=stderr, soft_wrap=True)
            if exc.hint:
                line(("hint:", "dim"), " ", exc.hint, console=stderr, soft_wrap=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            stderr.print("interrupted")
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - last line of defence: a bug, shown as one
            if ctx.obj and ctx.obj.get("debug"):
                raise
            line(("internal error:", "bold red"), f" {type(exc).__name__}: {exc}", console=stderr, soft_wrap=True)
            line(("this is a bug in edgeq; run again with --debug for the traceback and report it", "dim"), console=stderr)
            ctx.exit(4)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EDGEQ"})
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.version_option(package_name="edgeq")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Quantize PyTorch models for a device, run them there, and report speed, size and accuracy."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _quiet_third_party(debug)


cli.add_command(run)
cli.add_command(inspect)
cli.add_command(deploy)
cli.add_command(doctor)
cli.add_command(clean)
cli.add_command(profiles)
cli.add_command(lab)
cli.add_command(package)
cli.add_command(verify)
cli.add_command(keygen)


def main() -> None:
    cli(prog_name="edgeq")


if __name__ == "__main__":
    main()
