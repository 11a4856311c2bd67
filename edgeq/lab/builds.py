"""The lab's building half: every (model, profile) loaded and built once per process, one export at a time,
from the content cache when this host built the same artifact before; and each profile's golden artifact for
health checks.

A causal language model the LLM export takes is built as one (``LlmBuild``: programs with a KV cache, timed per
decoded token, judged on their logits); every other model as ``ModelBuild``. Both answer the lab the same way:
``resolve`` a scheme, ``spec``, ``artifact``, ``device_bench``, ``score``."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edgeq.build import ModelBuild
from edgeq.errors import EdgeqError, ModelError
from edgeq.export import Artifact
from edgeq.lab.events import LabEvent
from edgeq.lab.health import golden_model
from edgeq.llm.build import LlmBuild, generates
from edgeq.models import load_model
from edgeq.profiles import DeviceProfile


class Builds:
    """``ModelBuild``s by (model, profile name), the errors of those that could not be made, and the golden
    artifacts; safe to share between a lab's threads (exports run one at a time)."""

    def __init__(self, say: Callable[[LabEvent], None] | None = None) -> None:
        self.say = say or (lambda event: None)
        self.lock = threading.RLock()
        self._models: dict[str, object] = {}
        self._builds: dict[tuple[str, str], ModelBuild | LlmBuild] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._golden: dict[str, tuple[ModelBuild, Artifact]] = {}

    def build(self, model: str, profile: DeviceProfile) -> ModelBuild | LlmBuild | None:
        """The model's build for the profile; None when it cannot be made (``error`` says why)."""
        key = (model, profile.name)
        with self.lock:
            if key in self._builds or key in self._errors:
                return self._builds.get(key)
            try:
                if model not in self._models:
                    self.say(LabEvent("*", "building", message=f"loading {model}"))
                    self._models[model] = load_model(model)
                loaded = self._models[model]
                language, forward_only = generates(loaded)  # type: ignore[arg-type]
                if forward_only:
                    self.say(LabEvent("*", "building", message=forward_only))
                self._builds[key] = (LlmBuild if language else ModelBuild)(loaded, profile)  # type: ignore[arg-type]
            except EdgeqError as exc:
                self._errors[key] = exc.message
                return None
            return self._builds[key]

    def error(self, model: str, profile: str) -> str:
        return self._errors.get((model, profile), "")

    def artifact(self, model: str, profile: DeviceProfile, scheme: str,
                 fmt: str) -> tuple[ModelBuild | LlmBuild, Artifact]:
        """The artifact of one job (``scheme`` resolved, never ``auto``); raises what building raises."""
        with self.lock:
            build = self.build(model, profile)
            if build is None:
                raise ModelError(self.error(model, profile.name))
            return build, build.artifact(build.spec(scheme, fmt))

    def golden(self, profile: DeviceProfile) -> tuple[ModelBuild, Artifact]:
        """The health check's golden artifact for a profile, built the first time a device of it needs one
        (devices that start healthy never do)."""
        with self.lock:
            if profile.name not in self._golden:
                build = ModelBuild(golden_model(), profile)
                self._golden[profile.name] = (build, build.artifact(build.spec("none", profile.formats[0])))
            return self._golden[profile.name]
