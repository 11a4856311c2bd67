"""Signatures in the OpenSSF model signing format, through the ``model-signing`` library.

A signature is a Sigstore bundle (JSON) whose DSSE envelope carries an in-toto statement listing every
file of the unpacked bundle folder with its SHA-256; ``model_signing verify key`` checks one without
edgeq. Keys are elliptic-curve (P-256 by default, as ``edgeq keygen`` writes them) or live in an HSM
behind a PKCS#11 URI. ECDSA signatures are randomized, so the signature is kept outside the
reproducible payload, next to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from edgeq.errors import ConfigError, EdgeqError

_INSTALL_HINT = "pip install 'edgeq[release]' (model-signing==1.1.1 and pyopenssl)"


def keygen(path: Path, *, force: bool = False) -> tuple[Path, Path]:
    """A new ECDSA P-256 key pair: ``path`` (private, PEM PKCS#8, mode 0600) and ``path.pub`` (public, PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = path.with_name(path.name + ".pub")
    for existing in (path, public):
        if existing.exists() and not force:
            raise ConfigError(f"{existing} exists; not overwriting a key", hint="pick another -o, or pass --force")
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public.write_bytes(public_pem)
    return path, public


def check_signing_key(key: str) -> None:
    """Refuse a key model-signing cannot use (missing, encrypted, Ed25519, RSA) before anything is built."""
    if not key.startswith("pkcs11:"):
        _check_private_key(Path(key))


def sign_folder(folder: Path, signature: Path, key: str) -> None:
    """Sign every file under ``folder`` with ``key`` (a PEM private key path or a ``pkcs11:`` URI)."""
    signing = _model_signing("signing")
    config = signing.Config()
    if key.startswith("pkcs11:"):
        try:
            config.use_pkcs11_signer(pkcs11_uri=key)
        except RuntimeError as exc:  # the pkcs11 extra is missing
            raise ConfigError(f"cannot sign with {key}: {exc}", hint="pip install 'model-signing[pkcs11]==1.1.1'") from exc
        except Exception as exc:  # noqa: BLE001 - PKCS#11 modules raise their own kinds
            raise ConfigError(f"cannot open the PKCS#11 key {key}: {exc}",
                              hint="check the URI's token, object and module-path (or PKCS11_MODULE_PATH)") from exc
    else:
        check_signing_key(key)
        config.use_elliptic_key_signer(private_key=Path(key))
    tmp = signature.with_name(f".{signature.name}.partial")
    try:
        config.sign(folder, tmp)
        tmp.replace(signature)
    except EdgeqError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises ValueError and its dependencies' errors
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"signing {folder.name} failed: {exc}") from exc


def check_signature(folder: Path, signature: Path, public_key: Path) -> str | None:
    """None when ``signature`` over ``folder`` verifies with ``public_key``; else what is wrong, in one line."""
    verifying = _model_signing("verifying")
    _check_public_key(public_key)
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(folder, signature)
    except Exception as exc:  # noqa: BLE001 - wrong key, edited files, unreadable signature all raise here
        text = _readable(str(exc).strip() or type(exc).__name__)
        if type(exc).__name__ == "InvalidSignature":
            text = "the signature does not verify with this public key (signed by another key, or edited)"
        return text.replace("\n", " ")
    return None


def _readable(message: str) -> str:
    """model-signing's mismatch message carries raw digest bytes; keep the file names and what happened."""
    if not message.startswith("Signature mismatch"):
        return message
    # The message is the repr of a list of strings: a name is quoted '…', or \'…\' when a digest's bytes hold a ".
    changed = re.findall(r"Hash mismatch for \\*'(.+?)\\*'", message)
    parts = [f"{kind}: {names}" for kind, names in
             re.findall(r"(Missing|Extra) files (?:found )?in model '[^']*': ([^\"\]]+)", message)]
    parts += [f"changed since signing: {', '.join(changed)}"] if changed else []
    return "the files differ from what was signed: " + "; ".join(
        p.replace("Missing:", "missing since signing:").replace("Extra:", "added since signing:") for p in parts)


def _model_signing(part: str):  # noqa: ANN202 - the module, imported on first use
    try:
        import OpenSSL  # noqa: F401 - model_signing imports it without declaring it
        import importlib

        return importlib.import_module(f"model_signing.{part}")
    except ImportError as exc:
        raise ConfigError(f"signing needs the model-signing library ({exc})", hint=_INSTALL_HINT) from exc


def _check_private_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"signing key {path} does not exist", hint="create one with: edgeq keygen -o release.key") from None
    except TypeError as exc:
        raise ConfigError(f"signing key {path} is encrypted with a password", hint="use an unencrypted key file, or "
                          "keep the key in an HSM and pass its pkcs11: URI") from exc
    except ValueError as exc:
        raise ConfigError(f"signing key {path} is not a PEM private key ({exc})",
                          hint="create one with: edgeq keygen -o release.key") from exc
    _check_curve(path, key)


def _check_public_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"public key {path} does not exist") from None
    except ValueError as exc:
        raise ConfigError(f"public key {path} is not a PEM public key ({exc})",
                          hint="pass the .pub file edgeq keygen wrote next to the private key") from exc
    _check_curve(path, key)


def _check_curve(path: Path, key: object) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    curve = getattr(key, "curve", None)
    if not isinstance(curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")
        raise ConfigError(f"{path} is a {kind or 'non-EC'} key: OpenSSF model signing takes elliptic-curve keys "
                          "(P-256, P-384, P-521) only; Ed25519 and RSA are refused by the model-signing library",
                          hint="create a P-256 key with: edgeq keygen -o release.key")
