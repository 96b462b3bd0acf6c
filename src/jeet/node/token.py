"""The secret that guards a node's mutating HTTP endpoints, and who may bind the HTTP face where.

The token lives in the data folder (`http.token`, mode 0600, created on first use), so the operator's own
tools on the same machine read it from there (`read_token`) while a web page or another user cannot. It is
sent as `Authorization: Bearer <token>` (or `X-Jeet-Token: <token>`) and compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path

from ..errors import JeetError
from ..secretfile import load_or_create_secret

TOKEN_FILE = "http.token"
MIN_TOKEN = 16  # characters of an operator-chosen token


def load_or_create_token(folder: Path) -> str:
    """The token in `folder/http.token`, created (32 random bytes, hex, mode 0600) if absent.

    A token file others can read is refused: anyone who can read it can drive the node."""
    path = folder / TOKEN_FILE
    token = load_or_create_secret(path, lambda: secrets.token_hex(32), "the HTTP token")
    check_token(token, str(path))
    return token


def read_token(folder: Path) -> str | None:
    """The token of the node whose data folder is `folder`, or None if it has none (yet)."""
    try:
        return (folder / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def check_token(token: str, what: str = "--http-token") -> str:
    if len(token) < MIN_TOKEN or not token.isprintable() or any(c.isspace() for c in token):
        raise JeetError(f"{what}: a token is at least {MIN_TOKEN} printable characters without spaces")
    return token


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison (no early exit that would tell an attacker how much of a guess was right)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only ("localhost" or a loopback IP). Other names count as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_exposure(host: str, token_given: bool, public: bool) -> str | None:
    """Refuse (JeetError) to bind the HTTP face beyond this machine unless the operator said so; the
    warning to print when it is allowed (None on loopback)."""
    if is_loopback(host):
        return None
    if not (token_given or public):
        raise JeetError(f"--http {host}: not a loopback address; pass --http-token TOKEN (or --http-public "
                        f"to use the generated token in the data folder) to serve HTTP beyond this machine")
    return (f"warning: the HTTP API on {host} is reachable from other machines: POST needs the token, "
            f"GET /status, /metrics and /specimens are open to anyone who can connect")
