"""The kernel client: OAuth access tokens for your code, inside a Jupyter kernel.

Paste the snippet from the Available Credentials sidebar, or write it yourself::

    from jupyter_creds import Client

    client = Client()
    credentials = client.oauth.get_credentials(audience="3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11")
    if credentials:
        access_token = credentials["access_token"]
        # Use access_token with your API requests

The names follow Posit Workbench's Python SDK (``posit.workbench``):
``client.oauth.get_credentials``, ``client.oauth.integrations.find()``, ``find_by(...)``,
``get(guid)``, ``guid`` and ``expiry``. Code written for it moves over by changing the import.

The client talks to the Jupyter server that started the kernel, found through the environment
variables ``JUPYTER_CREDS_URL`` and ``JUPYTER_CREDS_TOKEN``. The server keeps the tokens fresh. The
client keeps each token for a few seconds (see ``cache_ttl``), so calling ``get_credentials`` before
every request is cheap.
"""

# This module is imported in every kernel that uses credentials: the standard library only at
# import time. httpx2 is imported on the first request, anyio on the first async cache miss.

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._version import __version__
from .client_cache import TokenCache, resolve_cache_ttl
from .errors import (
    BadRequestError,
    NotInJupyterError,
    NotSignedInError,
    ServerUnreachableError,
    UnknownIntegrationError,
    error_for_answer,
)

if TYPE_CHECKING:
    import httpx2

    from .auth import CredentialsAuth

__all__ = ["Client", "Credentials", "Integrations", "OAuth"]

URL_ENV = "JUPYTER_CREDS_URL"
TOKEN_ENV = "JUPYTER_CREDS_TOKEN"  # noqa: S105 (the variable's name, not a secret)
_SSL_CONTEXT: Any = None  # shared by every Client of the process (see _ssl_context)


class Credentials(dict):
    """The answer of :meth:`OAuth.get_credentials`: a plain ``dict`` with these keys.

    - ``access_token`` (str): send it as ``Authorization: Bearer <access_token>``.
    - ``token_type`` (str): as the provider said, usually ``"Bearer"``.
    - ``expiry`` (timezone-aware ``datetime`` or ``None``): when the token expires.
    - ``scope`` (str or ``None``): the scopes the provider granted.
    - ``integration_id`` (str): the audience you asked for.

    Its ``repr`` hides the access token, so displaying the dict in a notebook does not save the
    token in the notebook's outputs. ``credentials["access_token"]`` is the real token.
    """

    def __repr__(self) -> str:
        shown = {k: ("<hidden>" if k == "access_token" else v) for k, v in self.items()}
        return repr(shown)


class Client:
    """Entry point of the kernel client.

    Args:
        url: the server's credentials API, ending with ``/api/creds/``. Defaults to the
            ``JUPYTER_CREDS_URL`` environment variable, set by the server for its kernels.
        token: the kernel's secret for that API. Defaults to ``JUPYTER_CREDS_TOKEN``.
        timeout: seconds to wait for the server's answer.
        cache_ttl: the longest time, in seconds, a token is reused before the server is asked again
            (also ``JUPYTER_CREDS_CACHE_TTL``; default 5). After a sign-out, ``get_credentials``
            returns ``None`` within this time. ``0`` turns the cache off.

    Creating a client never fails and never contacts the server. Outside a kernel started by a
    Jupyter server with jupyter_creds, the first call raises
    :class:`~jupyter_creds.errors.NotInJupyterError`.

    A client holds one pool of HTTP connections and is safe to share between threads. Use it as a
    context manager, or call :meth:`close`, to release the connections early.

    Attributes:
        oauth: the :class:`OAuth` methods: ``get_credentials``, ``integrations``, ``auth``, ...
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        cache_ttl: float | None = None,
    ) -> None:
        url = url or os.environ.get(URL_ENV) or None
        if url and not url.endswith("/"):
            url += "/"
        self.url: str | None = url
        self._token = token or os.environ.get(TOKEN_ENV) or None
        self.timeout = timeout
        self.cache_ttl = resolve_cache_ttl(cache_ttl)
        self._lock = threading.Lock()
        self._http: httpx2.Client | None = None
        self._pid = os.getpid()
        self.oauth = OAuth(self)

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections. The client opens new ones if it is used again."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    def _http_client(self) -> httpx2.Client:
        if not self.url or not self._token:
            missing = [n for n, v in ((URL_ENV, self.url), (TOKEN_ENV, self._token)) if not v]
            raise NotInJupyterError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                "credentials are available only in a kernel started by a Jupyter server that has "
                "the jupyter_creds extension enabled. Check that `jupyter server extension list` "
                "shows jupyter_creds as OK, then open the notebook in JupyterLab (or Notebook) "
                "and restart its kernel; a kernel started by hand (`jupyter console`, `python`) "
                "does not get these variables."
            )
        if self._pid != os.getpid():
            # A forked child must not share its parent's sockets or (possibly held) locks.
            self._pid, self._http, self._lock = os.getpid(), None, threading.Lock()
            self.oauth._cache = TokenCache()
        with self._lock:
            if self._http is None:
                import httpx2

                self._http = httpx2.Client(
                    base_url=self.url,
                    headers={
                        "Authorization": f"Bearer {self._token}",
                        "Accept": "application/json",
                        "User-Agent": f"jupyter_creds/{__version__}",
                    },
                    timeout=self.timeout,
                    # The server is on loopback: never send its secret through a proxy.
                    trust_env=False,
                    limits=httpx2.Limits(max_connections=20, max_keepalive_connections=5),
                    verify=_ssl_context(httpx2),
                )
            return self._http

    def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, about: str | None
    ) -> Any:
        """Send one REST request; return the decoded JSON (None for 204) or raise a typed error."""
        http = self._http_client()
        import httpx2

        try:
            response = http.request(method, path, params=params)
        except httpx2.TimeoutException as exc:
            raise ServerUnreachableError(
                f"The Jupyter server at {self.url} did not answer within {self.timeout} s. "
                "Try again; if it keeps happening, check the server's log.",
                integration_id=about,
            ) from exc
        except httpx2.TransportError as exc:
            raise ServerUnreachableError(
                f"Could not reach the Jupyter server at {self.url} ({type(exc).__name__}). Is it "
                "still running? If it was restarted, restart this kernel so that it gets the "
                "server's new address.",
                integration_id=about,
            ) from exc
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and body is not None:
            return body
        raise error_for_answer(response.status_code, body, self.url, about)


class OAuth:
    """OAuth credentials of the integrations your administrator configured.

    Reach it as ``client.oauth``. Attributes:
        integrations: the :class:`Integrations`: ``find()``, ``find_by(...)``, ``get(guid)``.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._cache = TokenCache()
        self.integrations = Integrations(client)

    def get_credentials(self, audience: str) -> Credentials | None:
        """Get a fresh access token for an integration.

        Args:
            audience: the integration's id (a GUID), as shown in the Available Credentials sidebar
                or as ``integration["guid"]`` from :attr:`integrations`.

        Returns:
            ``None`` when you are not signed in to the integration (or must sign in again): sign
            in from the sidebar and call again. Otherwise a :class:`Credentials` dict with
            ``access_token``, ``token_type``, ``expiry`` (aware ``datetime`` or ``None``),
            ``scope`` and ``integration_id``.

        The server refreshes tokens before they expire. This client reuses a token for at most
        ``cache_ttl`` seconds and never past shortly before its expiry, so calling this before
        every request is cheap and always gives a usable token. Safe to call from many threads.

        Raises:
            UnknownIntegrationError: no integration has this id.
            ConfigurationError: the integration is misconfigured (ask your administrator).
            ProviderError: the OAuth provider failed and no valid token is left.
            ServerUnreachableError: the Jupyter server could not be reached.
            NotInJupyterError: not running in a kernel started by a Jupyter server with
                jupyter_creds.
            ValueError: ``audience`` is not a non-empty string.
        """
        _check_id(audience, "audience")
        cached = self._cache.get(audience)
        if cached is not None:
            return Credentials(cached)
        # One request per audience at a time: threads that missed together share its answer.
        with self._cache.fetch_lock(audience):
            cached = self._cache.get(audience)
            if cached is not None:
                return Credentials(cached)
            try:
                body = self._client._request(
                    "GET", "credentials", params={"audience": audience}, about=audience
                )
            except NotSignedInError:
                return None
            credentials = Credentials(
                access_token=body["access_token"],
                token_type=body.get("token_type") or "Bearer",
                expiry=_datetime(body.get("expires_at")),
                scope=body.get("scope"),
                integration_id=body.get("integration_id") or audience,
            )
            ttl = self._client.cache_ttl
            self._cache.put(audience, credentials, body.get("expires_at"), ttl)
            return credentials

    async def aget_credentials(self, audience: str) -> Credentials | None:
        """Async version of :meth:`get_credentials`, for ``await`` in notebooks and async code.

        A cached token comes back at once; otherwise the request runs in a worker thread (through
        anyio, so asyncio and other anyio back ends work), and the kernel's event loop is never
        blocked. Same answers and errors as :meth:`get_credentials`.
        """
        _check_id(audience, "audience")
        cached = self._cache.get(audience)
        if cached is not None:
            return Credentials(cached)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.get_credentials, audience)

    def auth(self, audience: str) -> CredentialsAuth:
        """An auth object that puts a fresh token of ``audience`` on every request.

        It works with httpx2, httpx and requests alike, sync and async::

            auth = client.oauth.auth(audience="3f0c6a52-...")
            requests.get("https://api.example.com/me", auth=auth)
            httpx2.Client(auth=auth).get("https://api.example.com/me")

        Each request asks :meth:`get_credentials` (cached for a few seconds), so a job that runs
        for hours keeps sending a valid token while the server refreshes it. When you are not
        signed in, the request raises :class:`~jupyter_creds.errors.NotSignedInError` before
        anything is sent.
        """
        from .auth import CredentialsAuth

        _check_id(audience, "audience")
        return CredentialsAuth(self, audience)

    def requests_auth(self, audience: str) -> CredentialsAuth:
        """The same object as :meth:`auth`, named for ``requests.get(url, auth=...)``."""
        return self.auth(audience)

    def httpx_auth(self, audience: str) -> CredentialsAuth:
        """The same object as :meth:`auth`, named for ``httpx2.Client(auth=...)`` (or httpx)."""
        return self.auth(audience)

    def sign_in(self, audience: str) -> str:
        """Start signing in to an integration; return the URL to open in your browser.

        Signing in from the Available Credentials sidebar does the same in one click. After the
        browser comes back, :meth:`get_credentials` returns a token.
        """
        _check_id(audience, "audience")
        path = f"integrations/{quote(audience, safe='')}/signin"
        return self._client._request("POST", path, about=audience)["authorization_url"]

    def sign_out(self, audience: str) -> None:
        """Sign out of an integration: the server forgets its tokens and revokes them.

        Signing out when not signed in is fine. This client forgets its cached token at once.
        """
        _check_id(audience, "audience")
        path = f"integrations/{quote(audience, safe='')}/signout"
        try:
            self._client._request("POST", path, about=audience)
        finally:
            self._cache.forget(audience)

    def _forget(self, audience: str) -> None:
        """Drop a cached token (the auth objects call it when an API answered 401)."""
        self._cache.forget(audience)


class Integrations:
    """The OAuth integrations configured on the server, as dicts.

    Reach it as ``client.oauth.integrations``. Each integration is a ``dict`` with the server's
    fields (``id``, ``name``, ``display_name``, ``status``, ``error``, ``issuer``, ``client_id``,
    ``scopes``, ``auth_url``, ``token_url``, ``expires_at``, ``account``) and, as in Posit
    Workbench's SDK, ``guid`` (the id), ``authenticated`` (bool) and ``expiry`` (aware
    ``datetime`` or ``None``). No integration ever holds a token or a secret.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def find(self) -> list[dict[str, Any]]:
        """Return all integrations, in the server's order.

        Raises the errors of :meth:`OAuth.get_credentials` when the server can't answer.
        """
        body = self._client._request("GET", "integrations", about=None)
        return [_integration(item) for item in body.get("integrations", [])]

    def find_by(
        self,
        *,
        name: str | None = None,
        display_name: str | None = None,
        guid: str | None = None,
        authenticated: bool | None = None,
    ) -> dict[str, Any] | None:
        """Return the first integration that matches every criterion given, or ``None``.

        Args:
            name: a regular expression searched in the integration's name (``re.search``): use
                ``^`` and ``$`` for an exact match, e.g. ``"^snowflake$"``.
            display_name: a regular expression searched in the display name.
            guid: the integration's id (GUIDs compare without regard to case).
            authenticated: ``True`` for integrations you are signed in to, ``False`` for the others.

        Example::

            integration = client.oauth.integrations.find_by(name="^github$", authenticated=True)
            if integration:
                credentials = client.oauth.get_credentials(audience=integration["guid"])
        """
        for integration in self.find():
            if name is not None and not re.search(name, str(integration.get("name") or "")):
                continue
            if display_name is not None and not re.search(
                display_name, str(integration.get("display_name") or "")
            ):
                continue
            if guid is not None and str(integration["guid"]).lower() != guid.lower():
                continue
            if authenticated is not None and integration["authenticated"] != authenticated:
                continue
            return integration
        return None

    def get(self, guid: str) -> dict[str, Any] | None:
        """Return the integration with this id, or ``None`` when there is none.

        Raises ``ValueError`` when ``guid`` is not a non-empty string.
        """
        _check_id(guid, "guid")
        try:
            body = self._client._request("GET", f"integrations/{quote(guid, safe='')}", about=guid)
        except (UnknownIntegrationError, BadRequestError):
            return None
        return _integration(body)


def _integration(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "guid": data.get("id"),
        "authenticated": data.get("status") == "authenticated",
        "expiry": _datetime(data.get("expires_at")),
    }


def _ssl_context(httpx2: Any) -> Any:
    """One TLS context per process: building one loads the CA bundle (~80 ms of CPU)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx2.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


def _datetime(epoch_seconds: float | None) -> datetime | None:
    return None if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, tz=UTC)


def _check_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be an integration id (a non-empty string), got {value!r}")
