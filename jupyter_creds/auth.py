"""Auth objects for HTTP libraries: a fresh access token on every request.

Get one with :meth:`jupyter_creds.client.OAuth.auth` (or its aliases ``requests_auth`` and
``httpx_auth``) rather than building it yourself::

    from jupyter_creds import Client
    import requests

    client = Client()
    auth = client.oauth.auth(audience="3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11")
    session = requests.Session()
    session.auth = auth
    session.get("https://api.example.com/me")  # Authorization: Bearer <fresh token>

The same object works as ``auth=`` of httpx2 and httpx clients, sync and async; under an async
client, fetching a token never blocks the event loop.

This module is imported on the first call of ``client.oauth.auth()``, not with the client: it
imports httpx2, and httpx and requests when they are installed, to subclass their base classes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

import httpx2

from .errors import NotSignedInError

if TYPE_CHECKING:
    from .client import OAuth

__all__ = ["CredentialsAuth"]


def _library_bases() -> tuple[type, ...]:
    """httpx2.Auth, plus httpx.Auth and requests' AuthBase where those libraries are installed."""
    bases: list[type] = [httpx2.Auth]
    if importlib.util.find_spec("httpx") is not None:
        import httpx

        # httpx2.alias_httpx() makes `httpx` the same module: no second base then.
        if httpx.Auth not in bases:
            bases.append(httpx.Auth)
    if importlib.util.find_spec("requests") is not None:
        import requests.auth

        bases.append(requests.auth.AuthBase)
    return tuple(bases)


class CredentialsAuth(*_library_bases()):  # type: ignore[misc]
    """Sends ``Authorization: Bearer <access token>`` of one integration with every request.

    Works as ``auth=`` of ``requests`` (it is a ``requests.auth.AuthBase``), of ``httpx2`` and of
    ``httpx`` (an ``Auth`` of each), with sync and async clients. Each request takes its token
    from :meth:`~jupyter_creds.client.OAuth.get_credentials`, which the client caches for a few
    seconds and the server refreshes before expiry: long-running jobs keep working.

    When an API answers 401, the cached token is dropped, so the next request asks the server
    again.

    Raises (when a request is sent):
        NotSignedInError: you are not signed in to the integration; sign in from the Available
            Credentials sidebar, then retry. Nothing is sent without a token.
        CredentialsError: any other error of ``get_credentials``.

    Attributes:
        audience: the integration's id.
    """

    def __init__(self, oauth: OAuth, audience: str) -> None:
        self._oauth = oauth
        self.audience = audience

    def __repr__(self) -> str:
        return f"CredentialsAuth(audience={self.audience!r})"

    def access_token(self) -> str:
        """The current access token (cached for a few seconds); raises when not signed in."""
        return self._token_from(self._oauth.get_credentials(self.audience))

    async def aaccess_token(self) -> str:
        """Async :meth:`access_token`: never blocks the event loop."""
        return self._token_from(await self._oauth.aget_credentials(self.audience))

    def _token_from(self, credentials: dict[str, Any] | None) -> str:
        if credentials is None:
            raise NotSignedInError(
                f"Not signed in to integration {self.audience}: sign in from the Available "
                "Credentials sidebar in JupyterLab, then retry.",
                reason="not_signed_in",
                integration_id=self.audience,
            )
        return credentials["access_token"]

    def _check(self, status_code: int) -> None:
        if status_code == 401:
            self._oauth._forget(self.audience)

    # httpx2 and httpx: both flows are overridden so that the async one can await.
    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        """httpx2/httpx hook: set the header, send, and drop the cached token on a 401."""
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        response = yield request
        self._check(response.status_code)

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        """httpx2/httpx hook of sync clients: :meth:`auth_flow`."""
        return self.auth_flow(request)

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        """httpx2/httpx hook of async clients: like :meth:`auth_flow`, without blocking."""
        request.headers["Authorization"] = f"Bearer {await self.aaccess_token()}"
        response = yield request
        self._check(response.status_code)

    # requests (and any library that calls its auth with the request).
    def __call__(self, request: Any) -> Any:
        """requests hook: set the header on the prepared request."""
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        if hasattr(request, "register_hook"):
            request.register_hook("response", self._on_requests_response)
        return request

    def _on_requests_response(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self._check(response.status_code)
        return response
