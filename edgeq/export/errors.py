"""Turn torch.export / lowering failures into one-line ``ModelError``s that say what to try."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator

import torch

from edgeq.errors import ModelError, summarize

_HINTS = (
    ("data-dependent", "the model branches on tensor values; make the branch static or use torch.cond"),
    ("Dynamic control flow", "the model branches on tensor values; make the branch static or use torch.cond"),
    ("not supported", "rewrite that part with standard torch ops, or try --format ptl"),
    ("Unsupported", "rewrite that part with standard torch ops, or try --format ptl"),
    ("got an unexpected keyword", "the example inputs do not match forward(); return them as a tuple of positional inputs"),
    ("positional argument", "the example inputs do not match forward(); return them as a tuple of positional inputs"),
)


def explain_export_failure(exc: BaseException, *, stage: str) -> ModelError:
    """A ``ModelError`` naming the stage, the exception and a hint."""
    text = str(exc)
    hint = next((h for needle, h in _HINTS if needle in text), "run with --debug for the full trace")
    return ModelError(f"{stage} failed{_user_location(text)}: {summarize(exc)}", hint=hint)


_LOCATION = re.compile(r"File:? \"?(?P<file>[^\s\",]+\.py)\"?(?::|, line )(?P<line>\d+)(?: in (?P<func>\w+))?(?:, code: (?P<code>.*))?")


def _user_location(text: str) -> str:
    """`` at file.py:LINE (code)`` for the last frame outside torch and edgeq that the message names."""
    found = ""
    for match in _LOCATION.finditer(text):
        path = match["file"]
        if "site-packages" in path or "/torch/" in path or "/edgeq/" in path:
            continue
        code = f" ({match['code'].strip()})" if match["code"] else ""
        found = f" at {path.rsplit('/', 1)[-1]}:{match['line']}{code}"
    return found


@contextlib.contextmanager
def quiet_fake_tensor_errors() -> Iterator[None]:
    """Hold back torch's fake-tensor ERROR traces while edgeq catches and reports the failure itself;
    with edgeq's debug logging on, they are let through."""
    noisy = logging.getLogger("torch._subclasses.fake_tensor")
    if logging.getLogger("edgeq").isEnabledFor(logging.DEBUG):
        yield
        return
    level = noisy.level
    noisy.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        noisy.setLevel(level)


def export_program(model: object, example: tuple[object, ...], *, stage: str) -> object:
    """``torch.export.export`` with its failure dump (it prints the whole graph to stderr) kept for --debug logs."""
    dump = io.StringIO()
    try:
        with contextlib.redirect_stderr(dump), quiet_fake_tensor_errors():
            return torch.export.export(model, example)
    except Exception as exc:  # noqa: BLE001 - export raises many kinds
        logging.getLogger(__name__).debug("torch.export output:\n%s", dump.getvalue())
        raise explain_export_failure(exc, stage=stage) from exc
