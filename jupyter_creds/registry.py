"""The live set of integrations: config + file, OIDC discovery, re-read on change, retried."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from .config import (
    Integration,
    check_endpoint,
    file_error_entry,
    mark_duplicates,
    parse_entries,
    read_integrations_file,
)
from .oauth import OAuthClient, ProviderFailure

DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
# Discovered endpoints fill only what the admin did not set explicitly.
_ENDPOINT_KEYS = {
    "auth_url": "authorization_endpoint",
    "token_url": "token_endpoint",
    "revocation_url": "revocation_endpoint",
    "userinfo_url": "userinfo_endpoint",
    "jwks_uri": "jwks_uri",
}


class DiscoveryError(Exception):
    pass


class IntegrationRegistry:
    """Holds the integrations users see. Never raises for a bad entry: it shows a config error."""

    def __init__(
        self,
        *,
        configured: Sequence[Mapping[str, Any]] = (),
        file: str | None = None,
        oauth: OAuthClient,
        log: logging.Logger,
        retry_interval: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ):
        self._configured = list(configured)
        self._file = os.path.expanduser(file) if file else None
        self._oauth = oauth
        self.log = log
        self.retry_interval = retry_interval
        self._environ = environ
        self._file_stamp: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._parsed: list[Integration] = []
        # issuer -> (metadata or error text, monotonic time of the attempt)
        self._discovery: dict[str, tuple[dict[str, Any] | str, float]] = {}
        self._integrations: dict[str, Integration] = {}
        self._discovering: asyncio.Task[None] | None = None
        self._initial: asyncio.Future[None] | None = None
        self._reload_file()

    # -- reading -------------------------------------------------------------------------------
    def all(self) -> list[Integration]:
        return list(self._integrations.values())

    def get(self, integration_id: str) -> Integration | None:
        return self._integrations.get(integration_id)

    async def ready(self) -> None:
        """Wait for the first discovery round, re-read the file if it changed, retry failures."""
        if self._initial is None:
            self._initial = asyncio.ensure_future(self._discover(force=False))
        await asyncio.shield(self._initial)
        now = time.monotonic()
        if now - self._checked_at >= 1.0:
            self._checked_at = now
            if self._reload_file():
                await self._discover(force=False)
            elif self._failed_discovery_due(now) and not self._discovering:
                # Retry in the background: a request never waits on a provider that was down.
                self._discovering = asyncio.ensure_future(self._discover(force=False))
                self._discovering.add_done_callback(lambda _: setattr(self, "_discovering", None))

    async def validate(self) -> list[Integration]:
        """Discovery for every integration now (used by `jupyter creds validate`)."""
        self._discovery.clear()
        await self._discover(force=True)
        return self.all()

    # -- the file --------------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int] | None:
        if not self._file:
            return None
        try:
            st = os.stat(self._file)
        except OSError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload_file(self) -> bool:
        """Parse config + file when the file changed (or the first time). Returns True if it did."""
        stamp = self._stamp()
        if self._parsed and stamp == self._file_stamp:
            return False
        self._file_stamp = stamp
        parsed = parse_entries(self._configured, source="config", environ=self._environ)
        if self._file:
            try:
                entries = read_integrations_file(self._file)
            except ValueError as e:
                self.log.error("jupyter_creds: %s", e)
                parsed.append(file_error_entry(self._file, str(e)))
            else:
                parsed += parse_entries(entries, source=self._file, environ=self._environ)
        self._parsed = mark_duplicates(parsed)
        for integ in self._parsed:
            if integ.error:
                self.log.warning(
                    "jupyter_creds: integration %r (%s) is misconfigured: %s",
                    integ.name,
                    integ.source,
                    integ.error,
                )
        if self._integrations:
            self.log.info("jupyter_creds: re-read integrations (%d)", len(self._parsed))
        self._compose()
        return True

    # -- discovery -------------------------------------------------------------------------------
    def _failed_discovery_due(self, now: float) -> bool:
        return any(
            isinstance(result, str) and now - at >= self.retry_interval
            for result, at in self._discovery.values()
        )

    async def _discover(self, *, force: bool) -> None:
        now = time.monotonic()
        issuers = {i.issuer for i in self._parsed if i.needs_discovery and i.issuer}
        due = [
            iss
            for iss in issuers
            if force
            or iss not in self._discovery
            or (
                isinstance(self._discovery[iss][0], str)
                and now - self._discovery[iss][1] >= self.retry_interval
            )
        ]
        if due:
            results = await asyncio.gather(*(self._fetch_metadata(iss) for iss in due))
            for iss, result in zip(due, results, strict=True):
                self._discovery[iss] = (result, time.monotonic())
        self._compose()

    async def _fetch_metadata(self, issuer: str) -> dict[str, Any] | str:
        last = ""
        for path in DISCOVERY_PATHS:
            url = issuer + path
            try:
                metadata = await self._oauth.get_json(url)
            except ProviderFailure as e:
                last = f"discovery failed: {url}: {e}"
                if e.status == 404:
                    continue
                break
            except Exception as e:  # a bug or an odd URL must not take every request down
                self.log.exception("jupyter_creds: discovery of %s failed unexpectedly", issuer)
                last = f"discovery failed: {url}: {type(e).__name__}"
                break
            found = str(metadata.get("issuer", "")).rstrip("/")
            if found != issuer:
                return (
                    f"discovery issuer mismatch: {url} says issuer {found!r}, "
                    f"configured issuer is {issuer!r}"
                )
            return metadata
        return f"{last} (retrying every {self.retry_interval:g} s)"

    def _compose(self) -> None:
        composed = {}
        for integ in self._parsed:
            composed[integ.id] = self._apply_discovery(integ)
        self._integrations = composed

    def _apply_discovery(self, integ: Integration) -> Integration:
        if integ.needs_discovery and integ.issuer:
            result, _ = self._discovery.get(integ.issuer, ("discovery has not run yet", 0.0))
            if isinstance(result, str):
                return integ.with_error(result)
            updates: dict[str, Any] = {}
            for key, meta_key in _ENDPOINT_KEYS.items():
                value = getattr(integ, key) or result.get(meta_key)
                if value and key != "jwks_uri" and (problem := check_endpoint(key, value)):
                    return integ.with_error(f"{problem} (from discovery)")
                updates[key] = value
            if not updates["auth_url"] or not updates["token_url"]:
                return integ.with_error("discovery did not give an authorization or token endpoint")
            updates["iss_required"] = (
                result.get("authorization_response_iss_parameter_supported") is True
            )
            methods = result.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            integ = replace(integ, **updates)
        else:
            methods = ["client_secret_basic"]
        if not integ.error and not integ.token_endpoint_auth_method:
            if not integ.client_secret:
                method = "none"
            elif "client_secret_basic" in methods or "client_secret_post" not in methods:
                method = "client_secret_basic"
            else:
                method = "client_secret_post"
            integ = replace(integ, token_endpoint_auth_method=method)
        return integ
