"""Everything that talks to OAuth providers: authorize URLs, code exchange, refresh, revocation.

Built on authlib's ``AsyncOAuth2Client`` over httpx2. Errors come out as two exception types whose
messages are safe to show and log: they name the provider's problem (status, OAuth error code) and
never carry a token, code, verifier or secret. Retries are bounded and only for failures where the
request certainly had no effect (connection refused, 429, 5xx).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
import time
from typing import TYPE_CHECKING, Any

import httpx2

from .config import Integration

if TYPE_CHECKING:  # authlib (with joserfc) is imported on the first provider call: ~60 ms less
    # at server start-up, where nobody has asked for a token yet.
    from authlib.integrations.httpx_client import AsyncOAuth2Client

# authlib logs token requests and responses at DEBUG; httpx2/httpcore2 log request lines. Neither
# may ever put a token in our logs, whatever level an admin turns on: keep them at WARNING.
for _name in ("authlib", "httpx2", "httpcore2", "httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_DELAY = 2.0  # seconds; a provider asking for a longer pause is not retried in-request


class ProviderFailure(Exception):
    """The provider could not be reached or gave an unusable answer. The text is safe to show."""

    def __init__(self, message: str, *, status: int | None = None, answered: bool = True):
        super().__init__(message)
        self.status = status
        # False when the request may have reached the provider but its answer was lost: the
        # provider may have acted on it (rotated a refresh token), so it must not be repeated.
        self.answered = answered


class InvalidGrant(Exception):
    """The provider refused the grant (revoked, expired, reused): the user must sign in again."""


def _safe(text: object, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


class OAuthClient:
    """One per server. Holds an authlib client (a connection pool) per integration."""

    def __init__(self, *, timeout: float = 10.0, retries: int = 2, log: logging.Logger):
        self.timeout = timeout
        self.retries = retries
        self.log = log
        self._clients: dict[tuple[Any, ...], AsyncOAuth2Client] = {}
        self._http: httpx2.AsyncClient | None = None
        # One TLS context for all clients: each new one loads the CA bundle again (~80 ms of CPU
        # on the event loop, ~0.9 MB kept), once per integration in use.
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx2.create_ssl_context()
        return self._tls

    def _client(self, integ: Integration) -> AsyncOAuth2Client:
        key = (integ.id, integ.client_id, integ.client_secret, integ.token_endpoint_auth_method)
        client = self._clients.get(key)
        if client is None:
            from authlib.integrations.httpx_client import AsyncOAuth2Client

            client = AsyncOAuth2Client(
                client_id=integ.client_id,
                client_secret=integ.client_secret,
                token_endpoint_auth_method=integ.token_endpoint_auth_method or "none",
                revocation_endpoint_auth_method=integ.token_endpoint_auth_method or "none",
                code_challenge_method="S256",
                timeout=self.timeout,
                verify=self._tls_context(),
            )
            for hook in ("access_token_response", "refresh_token_response"):
                client.register_compliance_hook(hook, _rate_limit_is_an_http_error)
            self._clients[key] = client
        return client

    def authorization_url(
        self, integ: Integration, *, redirect_uri: str, state: str, code_verifier: str, nonce: str
    ) -> str:
        params: dict[str, str] = dict(integ.authorize_params)
        if "openid" in integ.scopes:
            params["nonce"] = nonce
        url, _ = self._client(integ).create_authorization_url(
            integ.auth_url,
            state=state,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(integ.scopes) or None,
            **params,
        )
        return url

    async def exchange_code(
        self, integ: Integration, *, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        client = self._client(integ)
        return await self._token_call(
            integ,
            "sign-in",
            lambda: client.fetch_token(
                integ.token_url,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
            ),
        )

    async def refresh(self, integ: Integration, refresh_token: str) -> dict[str, Any]:
        client = self._client(integ)
        return await self._token_call(
            integ,
            "refresh",
            lambda: client.refresh_token(integ.token_url, refresh_token=refresh_token),
        )

    async def _token_call(self, integ: Integration, what: str, call) -> dict[str, Any]:
        """Run a token endpoint call with bounded retries; normalize every failure."""
        from authlib.integrations.httpx_client import OAuthError

        for attempt in range(self.retries + 1):
            try:
                token = dict(await call())
            except OAuthError as e:
                if e.error == "invalid_grant":
                    raise InvalidGrant(_safe(e.description or "invalid_grant")) from None
                raise ProviderFailure(
                    f"{integ.display_name}: the provider refused the {what}: {_safe(e.error)}"
                    + (f" ({_safe(e.description)})" if e.description else ""),
                    status=400,
                ) from None
            except httpx2.HTTPStatusError as e:
                status = e.response.status_code
                failure = ProviderFailure(
                    f"{integ.display_name}: the provider's token endpoint answered HTTP {status}",
                    status=status,
                )
                retry_after = _retry_after(e.response)
            except ValueError:
                # authlib: the body was not a JSON object (an HTML error page, a proxy's page).
                raise ProviderFailure(
                    f"{integ.display_name}: the provider's token endpoint did not answer JSON",
                    status=502,
                ) from None
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as e:
                failure = ProviderFailure(
                    f"{integ.display_name}: can't connect to the provider ({type(e).__name__})",
                )
                retry_after = None
            except httpx2.TimeoutException:
                # Not retried, and not treated as a lost answer: a provider that is slow is far
                # more common than one that acted and then went silent, and signing everyone out
                # whenever it is slow would be worse. If it did rotate the refresh token, the
                # next refresh gets invalid_grant, and the user is asked to sign in again.
                raise ProviderFailure(
                    f"{integ.display_name}: the provider did not answer within {self.timeout:g} s",
                ) from None
            except httpx2.HTTPError as e:
                # The request was sent but the answer was lost: the provider may have acted on it.
                raise ProviderFailure(
                    f"{integ.display_name}: the connection to the provider broke during the "
                    f"{what} ({type(e).__name__})",
                    answered=False,
                ) from None
            else:
                if not isinstance(token.get("access_token"), str) or not token["access_token"]:
                    raise ProviderFailure(
                        f"{integ.display_name}: the provider's answer has no access_token",
                        status=502,
                    )
                return token
            if failure.status is not None and failure.status not in RETRYABLE_STATUS:
                raise failure
            if attempt == self.retries or (retry_after or 0.0) > MAX_RETRY_DELAY:
                raise failure
            delay = retry_after if retry_after is not None else 0.25 * 2**attempt
            self.log.info("jupyter_creds: %s; retrying in %.2f s", failure, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def revoke(self, integ: Integration, token: str, hint: str = "refresh_token") -> None:
        """RFC 7009 revocation, best effort: failures are logged (without the token), not raised."""
        if not integ.revocation_url:
            return
        try:
            resp = await self._client(integ).revoke_token(
                integ.revocation_url, token=token, token_type_hint=hint
            )
        except httpx2.HTTPError as e:
            self.log.warning(
                "jupyter_creds: %s: revocation failed (%s); local tokens are deleted anyway",
                integ.display_name,
                type(e).__name__,
            )
            return
        if resp.status_code != 200:
            self.log.warning(
                "jupyter_creds: %s: revocation answered HTTP %d; local tokens are deleted anyway",
                integ.display_name,
                resp.status_code,
            )

    async def get_json(self, url: str, *, bearer: str | None = None) -> dict[str, Any]:
        """GET a JSON object (discovery, JWKS, userinfo). Raises ProviderFailure."""
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=self.timeout, verify=self._tls_context())
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            resp = await self._http.get(url, headers=headers)
        except httpx2.HTTPError as e:
            raise ProviderFailure(f"can't reach it ({type(e).__name__})") from None
        if resp.status_code != 200:
            raise ProviderFailure(f"HTTP {resp.status_code}", status=resp.status_code)
        try:
            data = resp.json()
        except (ValueError, json.JSONDecodeError):
            data = None
        if not isinstance(data, dict):
            raise ProviderFailure("the answer is not a JSON object", status=502)
        return data

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _rate_limit_is_an_http_error(resp: httpx2.Response) -> httpx2.Response:
    """authlib reads a 429 whose body is an OAuth error JSON as a refusal; it is "try later"."""
    if resp.status_code == 429:
        resp.raise_for_status()
    return resp


def _retry_after(resp: httpx2.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def new_state() -> str:
    """256 bits from the OS's CSPRNG, URL-safe (DESIGN.md asks for at least 128)."""
    return secrets.token_urlsafe(32)


def expires_at_from(token: dict[str, Any], now: float | None = None) -> float | None:
    now = time.time() if now is None else now
    try:
        expires_in = float(token["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None
    return now + max(expires_in, 0.0)
