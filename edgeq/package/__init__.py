"""Release bundles: every model of a release for every target, measured, described, reproducible and signed,
and the check that a bundle is still what was packaged — on the host or on the device.

    from edgeq.package import build, load_config, verify
    bundle = build(load_config(Path("release.toml")), sign_key="release.key")
    report = verify(bundle.path, public_key=Path("release.key.pub"))

The names are imported on first use, so ``import edgeq.package`` loads neither torch nor model-signing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeq.package.assemble import Bundle, build
    from edgeq.package.config import ReleaseConfig, load_config
    from edgeq.package.signing import keygen
    from edgeq.package.verification import Check, Verification, verify

_SOURCES = {
    "Bundle": "edgeq.package.assemble", "build": "edgeq.package.assemble", "ReleaseConfig": "edgeq.package.config",
    "load_config": "edgeq.package.config", "keygen": "edgeq.package.signing", "Check": "edgeq.package.verification",
    "Verification": "edgeq.package.verification", "verify": "edgeq.package.verification",
}
__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
