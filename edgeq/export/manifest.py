"""The manifest beside every artifact: what it is, what made it, and what it expects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.digest import file_sha256

__all__ = ["Manifest", "file_sha256", "tensor_specs", "toolchain_versions"]


def tensor_specs(tree: Any) -> list[dict[str, Any]]:
    """Shape and dtype of each tensor leaf, in pytree order."""
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(tree)
    return [{"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")} for t in leaves]


def toolchain_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("edgeq", "torch", "executorch", "torchao"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(json.loads(path.read_text(encoding="utf-8")))
