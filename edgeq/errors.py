"""The one error tree of edgeq.

Every error a user can cause or meet is an ``EdgeqError``; the CLI maps each
class to an exit code in one place (``edgeq.cli.main``). ``hint`` says what to
try, so messages stay one line plus one fix.
"""

from __future__ import annotations


def summarize(exc: BaseException, limit: int = 300) -> str:
    """``ExcType: first non-blank line`` of a third-party exception, for one-line messages."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:limit]}" if first else type(exc).__name__


class EdgeqError(Exception):
    """Root of every error edgeq raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(EdgeqError):
    """Bad options, bad values in a spec or a config file."""


class ProfileError(ConfigError):
    """A device profile that is missing, unreadable or invalid."""


class ModelError(EdgeqError):
    """A model source that cannot be resolved, loaded, traced or exported."""


class QuantizationError(EdgeqError):
    """Quantization of a model failed."""


class ExportError(EdgeqError):
    """Writing an artifact (.pte, .ptl) failed for a reason in the user's model."""


class TransportError(EdgeqError):
    """Moving files to or running commands on a device failed."""

    exit_code = 3


class ConnectError(TransportError):
    """The device cannot be reached."""


class AuthError(TransportError):
    """The device refused our credentials or host key."""


class TransferError(TransportError):
    """A push or pull did not arrive intact."""


class CommandFailed(TransportError):
    """A command on the device exited non-zero."""

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class CommandTimeout(TransportError):
    """A command on the device did not finish in time."""


class BenchError(EdgeqError):
    """The device-side runner failed or printed something we cannot parse."""

    exit_code = 3


class DeviceEnvironmentError(BenchError):
    """The runner failed for a reason in the device's environment, not the model's: a full disk, a missing
    permission, a file that vanished under it (the operating system refused)."""


class GateFailure(EdgeqError):
    """A check failed: an accuracy budget or a regression gate."""

    exit_code = 1


class Inconclusive(EdgeqError):
    """A check could not decide: devices kept jobs from finishing, or too little was measured to tell."""

    exit_code = 3


class InternalError(EdgeqError):
    """A bug in edgeq: please report it."""

    exit_code = 4
