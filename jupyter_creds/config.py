"""Integration definitions: parsing and validation of what administrators configure.

An entry comes from traitlets config (``c.CredsApp.integrations``) or from the TOML file named by
``c.CredsApp.integrations_file``. Nothing here raises for a bad entry: every problem becomes the
entry's ``error``, a one-line reason an administrator can act on, so one broken integration never
stops the server or the others. Network checks (OIDC discovery) live in ``registry``.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
# Parameters the sign-in flow sets itself; an admin's authorize_params may not override them.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "scope",
    }
)
FIELDS = frozenset(
    {
        "id",
        "name",
        "display_name",
        "issuer",
        "client_id",
        "client_secret_env",
        "client_secret_file",
        "token_endpoint_auth_method",
        "scopes",
        "auth_url",
        "token_url",
        "revocation_url",
        "userinfo_url",
        "authorize_params",
    }
)
# A namespace for ids given to entries whose own id is missing or not a GUID, so that the row is
# still addressable (and stable across restarts) while it shows its configuration error.
_PLACEHOLDER_NS = uuid.UUID("7d0a3c1e-5b8e-4f57-9a51-2a4c6f0e9b31")


@dataclass(frozen=True)
class Integration:
    """One configured integration, validated. ``error`` is None when it is usable."""

    id: str
    name: str
    display_name: str
    client_id: str | None = None
    issuer: str | None = None
    scopes: tuple[str, ...] = ()
    auth_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    userinfo_url: str | None = None
    jwks_uri: str | None = None
    token_endpoint_auth_method: str | None = None
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    # True when the provider's metadata says it sends `iss` in authorization responses (RFC 9207).
    iss_required: bool = False
    # The client secret is never serialized: keep it out of repr() so it can't reach a log line.
    client_secret: str | None = field(default=None, repr=False)
    error: str | None = None
    source: str = "config"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def needs_discovery(self) -> bool:
        return self.error is None and bool(self.issuer)

    def with_error(self, error: str) -> Integration:
        return replace(self, error=error)


def is_guid(value: object) -> bool:
    return isinstance(value, str) and bool(GUID_RE.fullmatch(value))


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(label: str, url: str) -> str | None:
    """Why ``url`` can't be an OAuth endpoint, or None. Plain http is allowed on loopback only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{label} {url!r} is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{label} {url!r} is not an http(s) URL"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return f"{label} {url!r} must use https (plain http is allowed only on loopback addresses)"
    if parts.username or parts.password:
        return f"{label} must not contain credentials"
    return None


def _placeholder_id(source: str, index: int, raw: object) -> str:
    return str(uuid.uuid5(_PLACEHOLDER_NS, f"{source}#{index}#{raw!r}"))


def _text(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _EntryError(f"{key} must be a string")
    return value.strip() or None


class _EntryError(ValueError):
    pass


def _read_secret(entry: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    env_name = _text(entry, "client_secret_env")
    file_name = _text(entry, "client_secret_file")
    if env_name and file_name:
        raise _EntryError("set client_secret_env or client_secret_file, not both")
    if env_name:
        secret = environ.get(env_name, "").strip()
        if not secret:
            raise _EntryError(
                f"environment variable {env_name} (client_secret_env) is not set in the server's "
                "environment"
            )
        return secret
    if file_name:
        try:
            secret = Path(file_name).expanduser().read_text(encoding="utf-8").strip()
        except OSError as e:
            raise _EntryError(
                f"client_secret_file {file_name} can't be read ({e.strerror or e})"
            ) from None
        if not secret:
            raise _EntryError(f"client_secret_file {file_name} is empty")
        return secret
    return None


def _scopes(entry: Mapping[str, Any]) -> tuple[str, ...]:
    value = entry.get("scopes", ())
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise _EntryError("scopes must be a list of strings")
    return tuple(s for s in value if s)


def _authorize_params(entry: Mapping[str, Any]) -> dict[str, str]:
    value = entry.get("authorize_params") or {}
    if not isinstance(value, Mapping):
        raise _EntryError("authorize_params must be a table of strings")
    params = {}
    for key, item in value.items():
        if key in RESERVED_AUTHORIZE_PARAMS:
            raise _EntryError(f"authorize_params may not set {key!r}: the sign-in flow sets it")
        if not isinstance(item, str | int | float | bool):
            raise _EntryError(f"authorize_params.{key} must be a string")
        params[str(key)] = str(item)
    return params


def parse_entry(
    entry: object, *, index: int, source: str, environ: Mapping[str, str] | None = None
) -> Integration:
    """Validate one raw entry. Never raises: problems become ``Integration.error``."""
    environ = os.environ if environ is None else environ
    if not isinstance(entry, Mapping):
        return Integration(
            id=_placeholder_id(source, index, entry),
            name=f"entry-{index + 1}",
            display_name=f"Entry {index + 1} of {source}",
            error="entry is not a table of settings",
            source=source,
        )
    raw_id = entry.get("id")
    name = entry.get("name") if isinstance(entry.get("name"), str) else None
    base = Integration(
        id=raw_id.lower() if is_guid(raw_id) else _placeholder_id(source, index, raw_id),
        name=name or f"entry-{index + 1}",
        display_name=(
            entry.get("display_name")
            if isinstance(entry.get("display_name"), str) and entry.get("display_name")
            else name or f"Entry {index + 1} of {source}"
        ),
        source=source,
    )
    try:
        return _validate(entry, base, environ)
    except _EntryError as e:
        return base.with_error(str(e))


def _validate(entry: Mapping[str, Any], base: Integration, environ: Mapping[str, str]):
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], FIELDS, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise _EntryError(f"unknown setting {unknown[0]!r}{extra}")
    raw_id = entry.get("id")
    if raw_id is None:
        raise _EntryError(
            "missing id: give the integration a GUID (python -c 'import uuid; print(uuid.uuid4())')"
        )
    if not is_guid(raw_id):
        raise _EntryError(
            f"id {str(raw_id)[:60]!r} is not a GUID like 3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11"
        )
    if not _text(entry, "name"):
        raise _EntryError("missing name")
    client_id = _text(entry, "client_id")
    if not client_id:
        raise _EntryError("missing client_id: set the client id registered at the provider")
    issuer = _text(entry, "issuer")
    urls = {k: _text(entry, k) for k in ("auth_url", "token_url", "revocation_url", "userinfo_url")}
    for label, url in (("issuer", issuer), *urls.items()):
        if url and (problem := check_endpoint(label, url)):
            raise _EntryError(problem)
    if not issuer:
        for key in ("auth_url", "token_url"):
            if not urls[key]:
                raise _EntryError(f"missing {key} (and no issuer to discover it from)")
    secret = _read_secret(entry, environ)
    method = _text(entry, "token_endpoint_auth_method")
    if method and method not in AUTH_METHODS:
        raise _EntryError(
            f"token_endpoint_auth_method {method!r} is not one of {', '.join(AUTH_METHODS)}"
        )
    if method and method != "none" and not secret:
        raise _EntryError(
            f"{method} needs a client secret: set client_secret_env or client_secret_file"
        )
    if method == "none" and secret:
        raise _EntryError("token_endpoint_auth_method is 'none' but a client secret is configured")
    return replace(
        base,
        client_id=client_id,
        issuer=issuer.rstrip("/") if issuer else None,
        scopes=_scopes(entry),
        client_secret=secret,
        token_endpoint_auth_method=method,
        authorize_params=_authorize_params(entry),
        **urls,
    )


def parse_entries(
    entries: Iterable[object], *, source: str, environ: Mapping[str, str] | None = None
) -> list[Integration]:
    return [parse_entry(e, index=i, source=source, environ=environ) for i, e in enumerate(entries)]


def read_integrations_file(path: str | os.PathLike[str]) -> list[object]:
    """Raw ``[[integration]]`` entries of a TOML file; raises ValueError with a readable reason."""
    p = Path(path).expanduser()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"integrations file {p} does not exist") from None
    except OSError as e:
        raise ValueError(f"integrations file {p} can't be read ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"integrations file {p} is not valid TOML: {e}") from None
    entries = data.get("integration", [])
    if not isinstance(entries, list):
        raise ValueError(f"integrations file {p}: use [[integration]] tables, one per integration")
    return entries


def file_error_entry(path: str, message: str) -> Integration:
    """A row that shows a file-level problem (unreadable file, bad TOML) to users and admins."""
    return Integration(
        id=_placeholder_id(path, -1, "file"),
        name="integrations-file",
        display_name=f"Integrations file {Path(path).name}",
        error=message,
        source=path,
    )


def mark_duplicates(integrations: list[Integration]) -> list[Integration]:
    """Collapse entries sharing an id into one row with a config error: ids must be unique."""
    by_id: dict[str, list[Integration]] = {}
    for integ in integrations:
        by_id.setdefault(integ.id, []).append(integ)
    result = []
    for integ_id, same in by_id.items():
        if len(same) == 1:
            result.append(same[0])
            continue
        names = ", ".join(repr(i.name) for i in same)
        result.append(
            same[0].with_error(
                f"duplicate id {integ_id}: used by {len(same)} entries ({names}); "
                "give each a unique GUID"
            )
        )
    return result
