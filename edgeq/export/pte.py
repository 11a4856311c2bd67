"""Write an ExecuTorch program (.pte) lowered to the XNNPACK backend."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ExportError, summarize
from edgeq.export.errors import export_program, quiet_fake_tensor_errors


def write_pte(model: torch.nn.Module, example: tuple[Any, ...], path: Path) -> dict[str, Any]:
    """Export, lower with the XNNPACK partitioner and save; returns the delegation summary."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    program = export_program(model, example, stage="torch.export")
    try:
        with quiet_fake_tensor_errors():
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        info = get_delegation_info(edge.exported_program().graph_module)
        program = edge.to_executorch()
        buffer = program.buffer
    except Exception as exc:  # noqa: BLE001 - lowering raises many kinds
        raise ExportError(f"lowering to ExecuTorch/XNNPACK failed: {_cause(exc)}") from exc
    path.write_bytes(buffer)
    outside = sorted(
        (op for op, breakdown in info.delegation_by_operator.items() if breakdown.non_delegated and op != "getitem"),
    )
    return {
        "backend": "xnnpack",
        "delegated_nodes": info.num_delegated_nodes,
        "non_delegated_nodes": info.num_non_delegated_nodes,
        "delegated_subgraphs": info.num_delegated_subgraphs,
        "ops_outside_backend": outside,
        "needs_kernels": optional_kernels(program.executorch_program),
    }


# Operator libraries a runtime may be built without (the portable kernels and XNNPACK are always there).
_OPTIONAL_KERNELS = ("quantized_decomposed::", "llama::")


def optional_kernels(program: Any) -> list[str]:
    """The operators the program calls outside the delegate that come from an optional kernel library
    (``quantized_decomposed::embedding_byte.out``, a language model's ``llama::custom_sdpa.out``): the device's
    runtime must have them registered."""
    return sorted({f"{op.name}.{op.overload}" if op.overload else op.name
                   for plan in program.execution_plan for op in plan.operators if op.name.startswith(_OPTIONAL_KERNELS)})


_PASS = re.compile(r"running the '(\w+)' pass")


def _cause(exc: BaseException) -> str:
    """One line for a lowering failure: ExecuTorch wraps a pass's error as "an error occurred when running
    the 'X' pass"; the pass's name and the innermost error say what broke."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    found = _PASS.search(str(exc))
    if root is exc:
        return summarize(exc)
    return f"{found.group(1) + ': ' if found else ''}{summarize(root)}"
