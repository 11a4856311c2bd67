"""The CLI reference (docs/cli.md) has a section for every command, naming every option the command has."""

import re
from pathlib import Path

import click
import pytest

from edgeq.cli.main import cli

REFERENCE = Path(__file__).parents[2] / "docs" / "cli.md"
# options documented once for the commands that share them, in these sections
SHARED = {"Device options": ("--profile", "--device", "--inventory", "--identity", "--known-hosts", "--trust-new-host"),
          "edgeq lab": ("--inventory", "--store")}


def sections() -> dict[str, str]:
    """The reference's ``## TITLE`` sections by title; the text before the first is ``edgeq``'s own."""
    parts = re.split(r"^## (.+)$", REFERENCE.read_text(encoding="utf-8"), flags=re.M)
    return {"edgeq": parts[0], **{title.strip(): text for title, text in zip(parts[1::2], parts[2::2])}}


def commands(group: click.Group = cli, path: str = "edgeq"):
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def long_options(command: click.Command) -> list[str]:
    return [name for param in command.params if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts) if name.startswith("--") and name != "--help"]


COMMANDS = dict(commands())


@pytest.mark.parametrize("path", [path for path, command in COMMANDS.items() if not isinstance(command, click.Group)])
def test_every_command_has_a_section_in_the_cli_reference(path):
    assert path in sections(), f"docs/cli.md has no '## {path}' section"


def documented(option: str, section: str, found: dict[str, str]) -> bool:
    """``option`` is named in the command's ``section``, or in a shared section that documents it for all."""
    named = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    return bool(named.search(section)) or any(
        option in names and title in found and named.search(found[title]) for title, names in SHARED.items())


@pytest.mark.parametrize("path", list(COMMANDS))
def test_every_option_of_a_command_is_in_its_section_of_the_cli_reference(path):
    found = sections()
    missing = [option for option in long_options(COMMANDS[path]) if not documented(option, found.get(path, ""), found)]
    assert not missing, f"docs/cli.md's '## {path}' section does not name {', '.join(missing)}"
