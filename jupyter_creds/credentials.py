"""Valid access tokens on demand: status, refresh (one in flight per integration) and sign-out.

Refresh order, and why:
1. one refresh task per integration: concurrent callers in this server await the same one;
2. a ``flock`` on a lock file, taken in a worker thread (never awaited on the event loop): other
   server processes sharing the store wait too;
3. the store is re-read under both locks: whoever waited finds the new tokens and makes no request;
4. the provider call runs with no database transaction open; the answer is saved with a
   compare-and-swap on the row's generation, so a sign-out that happened meanwhile wins.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from .config import Integration
from .oauth import InvalidGrant, OAuthClient, ProviderFailure, expires_at_from
from .registry import IntegrationRegistry
from .store import StoredTokens, StoreError, TokenStore, TokenSummary

LOCK_TIMEOUT = 30.0


class CredentialsError(Exception):
    """Maps to a REST error: ``status``, ``reason`` (DESIGN.md) and a message for people."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Status:
    status: str
    error: str | None
    expires_at: float | None
    account: str | None


class CredentialService:
    def __init__(
        self,
        *,
        registry: IntegrationRegistry,
        store: TokenStore,
        oauth: OAuthClient,
        log: logging.Logger,
        leeway: float = 60.0,
    ):
        self.registry = registry
        self.store = store
        self.oauth = oauth
        self.log = log
        self.leeway = leeway
        self._flights: dict[str, asyncio.Future[StoredTokens]] = {}
        # listing_json(): integration id -> (integration, summary, expired, its JSON)
        self._listing: dict[str, tuple[Integration, TokenSummary | None, bool, str]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- status ----------------------------------------------------------------------------------
    def status(self, integ: Integration, summary: TokenSummary | None) -> Status:
        if not integ.ok:
            return Status("config_error", integ.error, None, None)
        if summary is None or not summary.signed_in:
            return Status("not_signed_in", summary.reason if summary else None, None, None)
        expired = summary.expires_at is not None and summary.expires_at <= time.time()
        if expired and not summary.has_refresh_token:
            return Status(
                "not_signed_in",
                "the access token expired and the provider gave no refresh token: sign in again",
                None,
                summary.account,
            )
        return Status("authenticated", None, summary.expires_at, summary.account)

    def describe(self, integ: Integration, summary: TokenSummary | None) -> dict[str, Any]:
        """The REST ``Integration`` object. Never a secret, refresh token or access token."""
        st = self.status(integ, summary)
        return {
            "id": integ.id,
            "name": integ.name,
            "display_name": integ.display_name,
            "status": st.status,
            "error": st.error,
            "issuer": integ.issuer,
            "client_id": integ.client_id,
            "scopes": list(integ.scopes),
            "auth_url": integ.auth_url,
            "token_url": integ.token_url,
            "expires_at": st.expires_at,
            "account": st.account,
        }

    def listing_json(self) -> str:
        """``{"integrations": [...]}`` as JSON text: what every open sidebar polls.

        Each integration's JSON is kept while it would come out the same: the registry and the
        store hand out the same objects for what did not change (``summaries()`` keeps a row's
        summary object while the row is unchanged), and the one time-dependent part of
        ``status()`` is whether the token has expired. Listing 1,000 integrations then costs a
        join instead of 1,000 ``describe`` calls and their JSON encoding.
        """
        summaries = self.store.summaries()
        now = time.time()
        before, kept = self._listing, {}
        for integ in self.registry.all():
            summary = summaries.get(integ.id)
            expired = bool(summary and summary.expires_at is not None and summary.expires_at <= now)
            entry = before.get(integ.id)
            # Identity, not equality: both are immutable, and a new object is a rare miss.
            if (
                entry is None
                or entry[0] is not integ
                or entry[1] is not summary
                or entry[2] != expired
            ):
                entry = (integ, summary, expired, json.dumps(self.describe(integ, summary)))
            kept[integ.id] = entry
        self._listing = kept
        return '{"integrations": [' + ", ".join(entry[3] for entry in kept.values()) + "]}"

    # -- credentials -----------------------------------------------------------------------------
    def _fresh(self, tokens: StoredTokens, now: float) -> bool:
        if tokens.expires_at is None:
            return True  # the provider gave no lifetime: use it until it says otherwise
        lifetime = max(tokens.expires_at - tokens.obtained_at, 0.0)
        return tokens.expires_at - now > min(self.leeway, lifetime / 2)

    def _not_signed_in(self, integ: Integration) -> CredentialsError:
        summary = self.store.summaries().get(integ.id)
        reason = summary.reason if summary else None
        if reason:
            return CredentialsError(409, "reauth_required", f"{integ.display_name}: {reason}")
        return CredentialsError(
            409,
            "not_signed_in",
            f"You are not signed in to {integ.display_name}: sign in from the Available "
            "Credentials panel (or %credentials signin), then try again.",
        )

    async def get_credentials(self, integ: Integration) -> StoredTokens:
        """A valid access token for ``integ``, refreshed when needed. Raises CredentialsError."""
        if not integ.ok:
            raise CredentialsError(409, "config_error", f"{integ.display_name}: {integ.error}")
        tokens = self.store.get(integ.id)
        if tokens is not None and self._fresh(tokens, time.time()):
            return tokens
        # One refresh per integration at a time: callers arriving meanwhile await the same one,
        # and are all answered when it ends (not handed a lock one loop turn after another). It
        # runs as its own task, so a caller that goes away does not cancel it halfway.
        flight = self._flights.get(integ.id)
        if flight is None:
            flight = asyncio.ensure_future(self._refresh_if_needed(integ))
            self._flights[integ.id] = flight
            flight.add_done_callback(partial(self._landed, integ.id))
        return await asyncio.shield(flight)

    def _landed(self, integration_id: str, flight: asyncio.Future[StoredTokens]) -> None:
        if self._flights.get(integration_id) is flight:
            del self._flights[integration_id]
        if not flight.cancelled():
            flight.exception()  # its callers got it; nothing to report if none is left

    async def _refresh_if_needed(self, integ: Integration) -> StoredTokens:
        tokens = self.store.get(integ.id)
        if tokens is None:
            raise self._not_signed_in(integ)
        if self._fresh(tokens, time.time()):
            return tokens
        if not tokens.refresh_token:
            return self._without_refresh(integ, tokens)
        lock = self.store.refresh_lock(integ.id)
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, lock.acquire, LOCK_TIMEOUT):
            return self._serve_or_fail(
                integ, tokens, "another Jupyter process is refreshing this token; try again"
            )
        try:
            return await self._refresh_locked(integ)
        finally:
            lock.release()

    def _without_refresh(self, integ: Integration, tokens: StoredTokens) -> StoredTokens:
        if tokens.expires_at is not None and tokens.expires_at <= time.time():
            return self._end_session(
                integ,
                tokens,
                "the access token expired and the provider gave no refresh token: sign in again",
            )
        return tokens  # inside the leeway but still valid: nothing better to offer

    def _end_session(self, integ: Integration, tokens: StoredTokens, reason: str) -> StoredTokens:
        """Sign out with ``reason``, unless the store moved on since ``tokens`` were read.

        A sign-in (here or in another server sharing the store) or another process's refresh
        may have replaced them while we talked to the provider: the store is read again and its
        newer tokens are the answer; a failure about the old ones must not erase them.
        """
        if self.store.mark_signed_out(integ.id, reason, if_generation=tokens.generation):
            raise CredentialsError(409, "reauth_required", f"{integ.display_name}: {reason}")
        return self._current(integ)

    def _current(self, integ: Integration) -> StoredTokens:
        """What the store holds now, if still valid; else the reason to sign in."""
        current = self.store.get(integ.id)
        if current is not None and (current.expires_at is None or current.expires_at > time.time()):
            return current
        raise self._not_signed_in(integ)

    def _serve_or_fail(
        self, integ: Integration, tokens: StoredTokens, problem: str
    ) -> StoredTokens:
        """A still-valid token is served when a refresh fails; an expired one is an error."""
        if tokens.expires_at is None or tokens.expires_at > time.time():
            self.log.warning("jupyter_creds: %s; serving the still-valid token", problem)
            return tokens
        raise CredentialsError(502, "provider_error", problem)

    async def _refresh_locked(self, integ: Integration) -> StoredTokens:
        # Another process may have refreshed while we waited for the file lock.
        tokens = self.store.get(integ.id)
        if tokens is None:
            raise self._not_signed_in(integ)
        if self._fresh(tokens, time.time()) or not tokens.refresh_token:
            return tokens
        try:
            answer = await self.oauth.refresh(integ, tokens.refresh_token)
        except InvalidGrant as e:
            self.log.info("jupyter_creds: %s: refresh refused (invalid_grant)", integ.display_name)
            return self._end_session(
                integ, tokens, f"the provider ended the session ({e}): sign in again"
            )
        except ProviderFailure as e:
            if not e.answered:
                # The provider may have rotated the refresh token and we lost the new one: using
                # the old one again would look like token theft to it. Ask for a new sign-in.
                return self._end_session(
                    integ, tokens, f"{e}; the session can't be resumed safely: sign in again"
                )
            return self._serve_or_fail(integ, tokens, str(e))
        now = time.time()
        new = replace(
            tokens,
            access_token=str(answer["access_token"]),
            token_type=str(answer.get("token_type") or tokens.token_type),
            # A provider that sends no new refresh token keeps the old one valid.
            refresh_token=answer.get("refresh_token") or tokens.refresh_token,
            scope=answer.get("scope") or tokens.scope,
            expires_at=expires_at_from(answer, now),
            obtained_at=now,
        )
        try:
            saved = self.store.save(new, if_generation=tokens.generation)
        except StoreError as e:
            raise CredentialsError(500, "store_error", str(e)) from None
        if saved is None:
            # Signed out, or signed in again, while we refreshed: these tokens must not come back.
            if self.store.get(integ.id) is None and new.refresh_token != tokens.refresh_token:
                # Nobody holds this rotated refresh token now: end it at the provider too. (Not
                # after a new sign-in: some providers end all of a user's sessions with a client
                # on any revocation, the new one included.)
                self._spawn(self.oauth.revoke(integ, str(new.refresh_token)))
            return self._current(integ)
        self.log.info("jupyter_creds: refreshed the access token for %s", integ.display_name)
        return saved

    # -- sign-out --------------------------------------------------------------------------------
    def sign_out(self, integ: Integration) -> None:
        """Delete local tokens now; revoke at the provider in the background (best effort)."""
        previous = self.store.delete(integ.id)
        if previous is None:
            return
        self.log.info("jupyter_creds: signed out of %s", integ.display_name)
        token, hint = (
            (previous.refresh_token, "refresh_token")
            if previous.refresh_token
            else (previous.access_token, "access_token")
        )
        if integ.ok and integ.revocation_url:
            self._spawn(self.oauth.revoke(integ, token, hint))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for refreshes in flight and background revocations (tests and shutdown): a
        refresh cut short after the provider rotated the refresh token would lose the new one."""
        while self._background or self._flights:
            pending = [*self._background, *self._flights.values()]
            await asyncio.gather(*pending, return_exceptions=True)
