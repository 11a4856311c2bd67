"""Options several commands declare the same way, declared once; defaults come from the library's dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from edgeq.device import DEFAULT_INVENTORY
from edgeq.quantize.spec import RUN_SCHEME_CHOICES


def default_of(cls: Any, name: str) -> Any:
    """A field's default in its dataclass: the one place a default is stated (the CLI shows and uses it)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


class Many(click.Option):
    """An option that takes every following word up to the next option: ``--models a b c``.

    Commas separate too (``--models a,b``), and the option may be repeated. Click has no such option, so
    this one takes over the parsing of its own words (click's parser, private API: checked on click 8)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> Any:
        result = super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is not None:
                original = option.process

                def process(value: Any, state: Any, original: Any = original) -> None:
                    values = [value]
                    while state.rargs and not state.rargs[0].startswith("-"):
                        values.append(state.rargs.pop(0))
                    for each in values:
                        original(each, state)

                option.process = process
        return result

    def type_cast_value(self, ctx: click.Context, value: Any) -> tuple[str, ...]:
        words = super().type_cast_value(ctx, value) or ()
        return tuple(part for word in words for part in str(word).split(",") if part)


def inventory_options(command: Any) -> Any:
    """``--inventory`` and ``--store``: which lab, and where its results are."""
    command = click.option("--store", default=None, help="Results store URL (sqlite:///FILE or postgresql://…) "
                           "[default: the inventory's [lab] store, else edgeq-lab.db beside it].")(command)
    return click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_INVENTORY,
                        show_default=True, help="The lab's inventory of devices.")(command)


def matrix_options(command: Any) -> Any:
    """The matrix a run measures: ``edgeq lab run`` and ``edgeq lab submit`` take the same options."""
    from edgeq.lab.plan import DEFAULT_SCHEMES, LabRequest

    for option in reversed([
        click.option("--models", cls=Many, required=True,
                     help="Model sources: zoo:NAME, file.py:factory or .pt2 (several)."),
        click.option("--devices", "device_names", cls=Many, help="Device names from the inventory [default: all]."),
        click.option("--tags", cls=Many, help="Only devices with one of these tags."),
        click.option("--profiles", "profile_names", cls=Many, help="Only devices of these profiles."),
        click.option("--schemes", cls=Many, default=DEFAULT_SCHEMES,
                     help=f"Schemes ({', '.join(RUN_SCHEME_CHOICES)}; 8da8w and 8da4w for language models) "
                          f"[default: {' '.join(DEFAULT_SCHEMES)}]."),
        click.option("--formats", cls=Many, help="Artifact formats (pte, ptl) [default: each profile's first]."),
        click.option("--runs", type=click.IntRange(min=1), default=default_of(LabRequest, "runs"), show_default=True,
                     help="Timed runs per job."),
        click.option("--warmup", type=click.IntRange(min=0), default=default_of(LabRequest, "warmup"),
                     show_default=True, help="Untimed runs first."),
        click.option("--label", default=None, help="A name for the run (a branch, a commit) to gate against later."),
    ]):
        command = option(command)
    return command
