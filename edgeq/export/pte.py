"""Write an ExecuTorch program (.pte) lowered to the XNNPACK backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgeq.errors import ExportError, summarize
from edgeq.export.errors import export_program


def write_pte(model: torch.nn.Module, example: tuple[Any, ...], path: Path) -> dict[str, Any]:
    """Export, lower with the XNNPACK partitioner and save; returns the delegation summary."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    program = export_program(model, example, stage="torch.export")
    try:
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        info = get_delegation_info(edge.exported_program().graph_module)
        buffer = edge.to_executorch().buffer
    except Exception as exc:  # noqa: BLE001 - lowering raises many kinds
        raise ExportError(f"lowering to ExecuTorch/XNNPACK failed: {summarize(exc)}",
                          hint="try --format ptl, or --scheme none to check the float model lowers") from exc
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
    }
