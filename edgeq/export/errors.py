"""Turn torch.export / lowering failures into one-line ``ModelError``s that say what to try."""

from __future__ import annotations

from edgeq.errors import ModelError

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
    text = str(exc).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    hint = next((h for needle, h in _HINTS if needle in text), "run with --debug for the full trace")
    return ModelError(f"{stage} failed: {type(exc).__name__}: {first[:300]}", hint=hint)
