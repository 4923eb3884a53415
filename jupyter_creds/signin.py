"""The authorization-code sign-in: PKCE S256, single-use state, RFC 9207 `iss`, id_token checks.

``SignInFlow.start`` returns the provider's authorization URL and remembers the flow under a fresh
state; ``complete`` handles the provider's redirect to our callback. The state is the only thing
that authorizes the callback, so it is 256 random bits, used once, and valid for 10 minutes.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from .config import Integration
from .oauth import InvalidGrant, OAuthClient, ProviderFailure, expires_at_from, new_state
from .oidc import IdTokenError, JwksCache, account_from, validate_id_token
from .registry import IntegrationRegistry
from .store import StoredTokens, StoreError, TokenStore

STATE_LIFETIME = 600.0
# Bound memory if something keeps starting flows it never finishes.
MAX_PENDING = 256


@dataclass(frozen=True)
class PendingSignIn:
    integration_id: str
    code_verifier: str
    nonce: str
    redirect_uri: str
    created: float


class SignInError(Exception):
    """A sign-in that can't complete. ``message`` is for people; it never holds a code or state."""

    def __init__(self, message: str, *, status: int = 400, integration_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.integration_id = integration_id


@dataclass(frozen=True)
class SignInResult:
    integration: Integration
    account: str | None


class SignInFlow:
    def __init__(
        self,
        *,
        registry: IntegrationRegistry,
        store: TokenStore,
        oauth: OAuthClient,
        jwks: JwksCache,
        log: logging.Logger,
    ):
        self.registry = registry
        self.store = store
        self.oauth = oauth
        self.jwks = jwks
        self.log = log
        self._pending: OrderedDict[str, PendingSignIn] = OrderedDict()

    def start(self, integ: Integration, *, redirect_uri: str) -> str:
        """Remember a new flow and return the URL to send the browser to."""
        self._expire()
        while len(self._pending) >= MAX_PENDING:
            self._pending.popitem(last=False)
        state = new_state()
        pending = PendingSignIn(
            integration_id=integ.id,
            code_verifier=secrets.token_urlsafe(64),  # 86 chars: within RFC 7636's 43..128
            nonce=secrets.token_urlsafe(32),
            redirect_uri=redirect_uri,
            created=time.monotonic(),
        )
        self._pending[state] = pending
        self.log.info("jupyter_creds: sign-in started for %s", integ.display_name)
        return self.oauth.authorization_url(
            integ,
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=pending.code_verifier,
            nonce=pending.nonce,
        )

    def _expire(self) -> None:
        cutoff = time.monotonic() - STATE_LIFETIME
        for state in [s for s, p in self._pending.items() if p.created < cutoff]:
            del self._pending[state]

    def _take(self, state: str) -> PendingSignIn:
        """Pop the flow for ``state``: whatever happens next, a state is never used twice."""
        self._expire()
        match = next(
            (s for s in self._pending if hmac.compare_digest(s.encode(), state.encode())), None
        )
        if match is None:
            raise SignInError(
                "This sign-in link is not valid any more: it was already used, it expired "
                "(after 10 minutes), or it was not started by this Jupyter server. "
                "Start the sign-in again from Jupyter."
            )
        return self._pending.pop(match)

    async def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        iss: str | None,
        error: str | None,
        error_description: str | None,
    ) -> SignInResult:
        if not state:
            raise SignInError("The provider's answer has no state: start the sign-in again.")
        pending = self._take(state)
        await self.registry.ready()
        integ = self.registry.get(pending.integration_id)
        if integ is None or not integ.ok:
            raise SignInError(
                "This integration is no longer configured correctly; ask your administrator.",
                integration_id=pending.integration_id,
            )
        name = integ.display_name
        if error:
            detail = f": {error_description}" if error_description else ""
            raise SignInError(
                f"{name}: the provider did not sign you in ({error}{detail}).",
                integration_id=integ.id,
            )
        # RFC 9207: reject a response from another issuer (mix-up attack) before using the code.
        if iss is not None:
            # (as bytes: compare_digest refuses str with non-ASCII characters, which `iss` may hold)
            given, expected = iss.rstrip("/").encode(), (integ.issuer or "").encode()
            if not expected or not hmac.compare_digest(given, expected):
                raise SignInError(
                    f"{name}: the answer came from another issuer than the configured one; "
                    "nothing was stored. Start the sign-in again.",
                    integration_id=integ.id,
                )
        elif integ.iss_required:
            raise SignInError(
                f"{name}: the provider's answer lacks the `iss` parameter it promises to send; "
                "nothing was stored.",
                integration_id=integ.id,
            )
        if not code:
            raise SignInError(
                f"{name}: the provider's answer has no code.", integration_id=integ.id
            )
        try:
            token = await self.oauth.exchange_code(
                integ,
                code=code,
                redirect_uri=pending.redirect_uri,
                code_verifier=pending.code_verifier,
            )
        except InvalidGrant as e:
            raise SignInError(
                f"{name}: the provider refused the sign-in code ({e}). Start the sign-in again.",
                status=400,
                integration_id=integ.id,
            ) from None
        except ProviderFailure as e:
            raise SignInError(str(e), status=502, integration_id=integ.id) from None
        claims = None
        if token.get("id_token"):
            try:
                claims = await validate_id_token(
                    str(token["id_token"]), integ=integ, nonce=pending.nonce, jwks=self.jwks
                )
            except IdTokenError as e:
                raise SignInError(
                    f"{name}: the sign-in was rejected: {e}. Nothing was stored.",
                    status=502,
                    integration_id=integ.id,
                ) from None
        account = account_from(claims) or await self._userinfo_account(integ, token)
        now = time.time()
        try:
            self.store.save(
                StoredTokens(
                    integration_id=integ.id,
                    access_token=str(token["access_token"]),
                    token_type=str(token.get("token_type") or "Bearer"),
                    refresh_token=token.get("refresh_token") or None,
                    scope=token.get("scope") or " ".join(integ.scopes) or None,
                    expires_at=expires_at_from(token, now),
                    obtained_at=now,
                    account=account,
                )
            )
        except StoreError as e:
            raise SignInError(f"{name}: {e}", status=500, integration_id=integ.id) from None
        self.log.info("jupyter_creds: signed in to %s", name)
        return SignInResult(integration=integ, account=account)

    async def _userinfo_account(self, integ: Integration, token: dict) -> str | None:
        if not integ.userinfo_url:
            return None
        try:
            info = await self.oauth.get_json(integ.userinfo_url, bearer=str(token["access_token"]))
        except ProviderFailure as e:
            self.log.info("jupyter_creds: %s: userinfo unavailable (%s)", integ.display_name, e)
            return None
        return account_from(info)
