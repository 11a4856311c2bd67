"""What to quantize and how: a frozen, validated spec and the result it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgeq.errors import ConfigError
from edgeq.profiles import ENGINES, FORMATS

if TYPE_CHECKING:
    import torch

SCHEMES = ("none", "dynamic", "static", "qat", "fp16")
# What a run may ask for: a scheme, or ``auto`` (search from the expected-fastest scheme).
SCHEME_CHOICES = ("auto", *SCHEMES)
# A language model's schemes (edgeq.llm.export.SCHEMES): int8 dynamic activations with int8 per-channel or int4
# grouped weights, the embedding table fp32 or (-emb8, -emb4) quantized too.
LANGUAGE_MODEL_SCHEMES = ("8da8w", "8da4w", "8da8w-emb8", "8da4w-emb4")
# A language model's programs by scheme: fp32 is named so only for them (another model's fp32 is ``none``).
LANGUAGE_MODEL_PROGRAMS = ("fp32", *LANGUAGE_MODEL_SCHEMES)
RUN_SCHEME_CHOICES = (*SCHEME_CHOICES, *LANGUAGE_MODEL_SCHEMES)
# How static quantization picks each activation's range from calibration data.
OBSERVERS = ("histogram", "minmax", "moving_average", "percentile")
# How a variant is quantized, per format: PT2E graph quantization (the main flow) or torchao's quantize_ on the
# eager model's Linear layers before export (dynamic only: the fallback when the PT2E graph cannot be lowered)
# for .pte; torch.ao eager/FX for .ptl.
FLOWS = {"pte": ("pt2e", "torchao"), "ptl": ("torch.ao",)}


def artifact_label(variant: str, fmt: str) -> str:
    """How everything edgeq prints names one artifact: its variant and its format, ``int8-dynamic .ptl``."""
    return f"{variant} .{fmt}"


@dataclass(frozen=True)
class QuantSpec:
    """One variant to build: a scheme, the engine it targets, the artifact format, and what stays float.

    ``float_layers`` are module paths (as in ``model.named_modules()``) kept in
    fp32 while the rest is quantized: mixed precision. ``flow`` defaults to the
    format's main flow (``FLOWS``). ``int8_embeddings``: embedding tables become
    int8 per row (.pte only; see ``edgeq.quantize.embedding``).
    """

    scheme: str
    engine: str
    format: str
    per_channel: bool = True
    reduce_range: bool = False
    calibration_samples: int = 128
    observer: str = "histogram"
    float_layers: tuple[str, ...] = ()
    qat_epochs: int = 2
    flow: str | None = None
    int8_embeddings: bool = True
    equalize: bool = False  # move activation outlier channels into the weights first (edgeq.quantize.equalize)

    def __post_init__(self) -> None:
        for key, value, allowed in (("scheme", self.scheme, SCHEMES), ("engine", self.engine, ENGINES),
                                    ("format", self.format, FORMATS), ("observer", self.observer, OBSERVERS)):
            if value not in allowed:
                raise ConfigError(f"quantization {key} {value!r} is not supported", hint=f"use one of: {', '.join(allowed)}")
        if self.calibration_samples < 1:
            raise ConfigError(f"calibration_samples must be ≥ 1, got {self.calibration_samples}")
        if self.qat_epochs < 1:
            raise ConfigError(f"qat_epochs must be ≥ 1, got {self.qat_epochs}")
        if self.float_layers and self.scheme in ("none", "fp16"):
            raise ConfigError("float_layers only make sense for an int8 scheme")
        if self.scheme == "fp16" and self.format != "pte":
            raise ConfigError("fp16 is a .pte variant (XNNPACK's fp16 kernels); the legacy .ptl flow has none",
                              hint="use --format pte, or an int8 scheme for .ptl")
        if self.equalize and self.scheme not in ("static", "dynamic"):
            raise ConfigError(f"equalization is for post-training int8 (static, dynamic), not {self.scheme!r}")
        flows = FLOWS[self.format]
        object.__setattr__(self, "flow", self.flow or flows[0])
        if self.flow not in flows:
            raise ConfigError(f"quantization flow {self.flow!r} does not write .{self.format}", hint=f"use one of: {', '.join(flows)}")
        if self.flow == "torchao" and self.scheme != "dynamic":
            raise ConfigError(f"the torchao flow quantizes dynamic int8 only, not {self.scheme!r}")
        object.__setattr__(self, "float_layers", tuple(sorted(set(self.float_layers))))
        # one spelling per artifact: only a quantized .pte has int8 embedding tables
        object.__setattr__(self, "int8_embeddings",
                           self.int8_embeddings and self.scheme not in ("none", "fp16") and self.format == "pte")

    @property
    def variant(self) -> str:
        """A unique, readable name for the variant: ``fp32``, ``int8-static``, ``int8-static-mixed2``."""
        if self.scheme in ("none", "fp16"):
            return {"none": "fp32", "fp16": "fp16"}[self.scheme]
        mixed = f"-mixed{len(self.float_layers)}" if self.float_layers else ""
        observer = f"-{self.observer}" if self.scheme == "static" and self.observer != "histogram" else ""
        flow = "-torchao" if self.flow == "torchao" else ""
        tables = "-fp32emb" if self.format == "pte" and not self.int8_embeddings else ""
        equalized = "-eq" if self.equalize else ""
        return f"int8-{self.scheme}{observer}{equalized}{flow}{tables}{mixed}"

    @property
    def label(self) -> str:
        """The artifact's name in tables, lines and ``--json``: ``artifact_label(variant, format)``."""
        return artifact_label(self.variant, self.format)

    @property
    def float_note(self) -> list[str]:
        """The artifact note that says which layers stayed fp32 (none when it is all int8)."""
        from edgeq.models.tracing import user_name  # torch is loaded by whoever builds the artifact

        return [f"kept in fp32: {', '.join(map(user_name, self.float_layers))}"] if self.float_layers else []

    @property
    def precision(self) -> str:
        return {"none": "fp32", "fp16": "fp16"}.get(self.scheme, "int8")

    def key(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "engine": self.engine, "format": self.format, "per_channel": self.per_channel,
                "reduce_range": self.reduce_range, "calibration_samples": self.calibration_samples,
                "observer": self.observer, "float_layers": list(self.float_layers), "qat_epochs": self.qat_epochs,
                "flow": self.flow, "int8_embeddings": self.int8_embeddings, "equalize": self.equalize}


# After a scheme failed, the one to try instead.
_OTHER_SCHEME = {"static": "dynamic", "dynamic": "static", "qat": "static", "fp16": "dynamic"}


def other_scheme(scheme: str) -> str | None:
    """The post-training scheme to try when ``scheme`` failed (None for fp32)."""
    return _OTHER_SCHEME.get(scheme)


def next_steps(spec: QuantSpec) -> str:
    """What to try after ``spec`` failed to build: other schemes and formats, never ``spec`` itself."""
    steps = []
    if spec.scheme != "none":
        steps.append(f"--scheme {other_scheme(spec.scheme)}")
    other_format = next(fmt for fmt in FORMATS if fmt != spec.format)
    steps.append(f"--format {other_format}" + (" (the legacy flow)" if other_format == "ptl" else " (torch.export)"))
    if spec.float_layers or spec.scheme != "none":
        steps.append("`edgeq inspect MODEL` to see which layers int8 hurts")
    return "try " + ", or ".join(steps) + "; --debug shows the full trace"


@dataclass
class QuantResult:
    """A model ready for the exporter of ``spec.format``, and what was done to get it."""

    spec: QuantSpec
    model: torch.nn.Module
    notes: list[str] = field(default_factory=list)
    # where int8 meets each layer kept in fp32 (``boundaries.boundary_patterns``), named when lowering fails
    boundaries: list[str] = field(default_factory=list)
