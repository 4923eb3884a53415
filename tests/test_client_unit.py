"""The kernel client against a small real HTTP server that speaks the REST contract.

The fake server runs on 127.0.0.1 in a thread (the network edge is real: sockets, keep-alive,
status codes, JSON bodies) and counts the requests it gets. It also serves ``/api/me``, a stand-in
for a third-party API that accepts only a currently valid token, for the auth objects. The served
snippets run here too: Python in a fresh interpreter, R with Rscript.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
import requests

import jupyter_creds
from jupyter_creds.client import Client
from jupyter_creds.errors import (
    AccessDeniedError,
    BadRequestError,
    ConfigurationError,
    CredentialsError,
    NotInJupyterError,
    NotSignedInError,
    ProviderError,
    ServerUnreachableError,
    UnexpectedResponseError,
    UnknownIntegrationError,
)
from jupyter_creds.snippets import snippet_code

SECRET = "kernel-secret-sentinel-9c41"
SIGNED_IN = "3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11"
NOT_SIGNED_IN = "0b9d8a3e-2f6c-4c1e-8e57-4a1d2c3b4e5f"
REAUTH = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
BROKEN = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
PROVIDER_DOWN = "7d6c5b4a-3e2f-4b1a-8d9c-0e1f2a3b4c5d"
SLOW = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
UNKNOWN = "ffffffff-ffff-4fff-bfff-ffffffffffff"

STATUS_ANSWERS = {
    "not_signed_in": (409, "You are not signed in to {name}."),
    "reauth_required": (409, "The grant for {name} is gone: sign in again."),
    "config_error": (409, "{name} is misconfigured: token_url is not https."),
    "provider_error": (502, "The provider of {name} failed: HTTP 503 from its token endpoint."),
}


class FakeCredsServer:
    """The jupyter_creds REST API as the kernel sees it, with tokens that really expire."""

    def __init__(self, lifetime: float | None = 3600.0) -> None:
        self.lifetime = lifetime  # of each token issued; None: no expires_at
        self.status = {
            SIGNED_IN: "authenticated",
            NOT_SIGNED_IN: "not_signed_in",
            REAUTH: "reauth_required",
            BROKEN: "config_error",
            PROVIDER_DOWN: "provider_error",
            SLOW: "authenticated",
        }
        self.requests: list[tuple[str, str]] = []
        self.connections = 0
        self._issued: dict[str, tuple[str, float | None]] = {}  # token -> (audience, expires_at)
        self._current: dict[str, str] = {}
        self._serial = itertools.count()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self.url = f"http://127.0.0.1:{self._httpd.server_port}/api/creds/"
        self.api_url = f"http://127.0.0.1:{self._httpd.server_port}/api/me"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeCredsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def count(self, path: str = "credentials") -> int:
        with self._lock:
            return sum(1 for _, p in self.requests if p.startswith(path))

    def token_for(self, audience: str) -> str:
        """The current token of an integration, renewed like the real server does it: once less
        than half its lifetime is left (the server's refresh leeway is capped at half)."""
        with self._lock:
            token = self._current.get(audience)
            if token is not None:
                expires_at = self._issued[token][1]
                if expires_at is None or expires_at - time.time() > self.lifetime / 2:
                    return token
            token = f"access-{audience[:8]}-{next(self._serial)}"
            expires_at = None if self.lifetime is None else time.time() + self.lifetime
            self._issued[token] = (audience, expires_at)
            self._current[audience] = token
            return token

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            issued = self._issued.get(token)
            if issued is None or self.status.get(issued[0]) != "authenticated":
                return False
            return issued[1] is None or issued[1] > time.time()

    def integration(self, guid: str) -> dict[str, Any]:
        status = self.status[guid]
        shown = status if status in ("authenticated", "config_error") else "not_signed_in"
        return {
            "id": guid,
            "name": {SIGNED_IN: "warehouse", BROKEN: "broken"}.get(guid, f"int-{guid[:4]}"),
            "display_name": {SIGNED_IN: "Warehouse (prod)"}.get(guid, f"Integration {guid[:4]}"),
            "status": shown,
            "error": "token_url is not https" if status == "config_error" else None,
            "issuer": "https://idp.example.com",
            "client_id": "jupyter",
            "scopes": ["openid", "offline_access"],
            "auth_url": "https://idp.example.com/authorize",
            "token_url": "https://idp.example.com/token",
            "expires_at": 1_900_000_000 if shown == "authenticated" else None,
            "account": "ada@example.com" if shown == "authenticated" else None,
        }


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the timeout test) leaves a broken pipe: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: FakeCredsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server.connections += 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, reason: str | None) -> None:
            self._answer(status, {"message": message, "reason": reason})

        def _route(self, method: str) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            if url.path == "/api/me":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if server.token_is_valid(token):
                    return self._answer(200, {"user": "ada"})
                return self._error(401, "invalid_token", None)
            path = url.path.removeprefix("/api/creds/")
            with server._lock:
                server.requests.append((method, path))
            if self.headers.get("Authorization") != f"Bearer {SECRET}":
                return self._error(403, "Forbidden", None)
            parts = path.split("/")
            if (method, path) == ("GET", "integrations"):
                items = [server.integration(g) for g in server.status]
                return self._answer(200, {"integrations": items})
            if (method, path) == ("GET", "credentials"):
                audience = parse_qs(url.query).get("audience", [""])[0]
                return self._credentials(audience)
            if parts[0] == "integrations" and len(parts) in (2, 3):
                if not _looks_like_guid(parts[1]):
                    return self._error(400, "The integration id must be a GUID.", "bad_request")
                if parts[1] not in server.status:
                    return self._error(404, "No such integration.", "unknown_integration")
                if method == "GET" and len(parts) == 2:
                    return self._answer(200, server.integration(parts[1]))
                if (method, parts[2:]) == ("POST", ["signin"]):
                    if server.status[parts[1]] == "config_error":
                        return self._error(409, "Broken is misconfigured.", "config_error")
                    url = f"https://idp.example.com/authorize?client_id=jupyter&state=s-{parts[1]}"
                    return self._answer(200, {"authorization_url": url})
                if (method, parts[2:]) == ("POST", ["signout"]):
                    server.status[parts[1]] = "not_signed_in"
                    return self._answer(204)
            return self._error(404, "Not found", None)

        def _credentials(self, audience: str) -> None:
            if not _looks_like_guid(audience):
                return self._error(
                    400, "Give the integration id as ?audience=<GUID>.", "bad_request"
                )
            status = server.status.get(audience)
            if status is None:
                return self._error(404, f"No integration {audience}.", "unknown_integration")
            if status != "authenticated":
                code, message = STATUS_ANSWERS[status]
                return self._error(code, message.format(name=audience), status)
            if audience == SLOW:
                time.sleep(0.5)
            token = server.token_for(audience)
            expires_at = server._issued[token][1]
            body = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_at": expires_at,
                "scope": "openid offline_access",
                "integration_id": audience,
            }
            self._answer(200, body)

    return Handler


def _looks_like_guid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


@pytest.fixture(autouse=True)
def _no_kernel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide what the process environment holds, even when run inside a kernel."""
    for name in ("JUPYTER_CREDS_URL", "JUPYTER_CREDS_TOKEN", "JUPYTER_CREDS_CACHE_TTL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_server() -> Iterator[FakeCredsServer]:
    with FakeCredsServer() as server:
        yield server


@pytest.fixture
def client(fake_server: FakeCredsServer) -> Iterator[Client]:
    with Client(fake_server.url, SECRET) as client:
        yield client


# --- get_credentials -----------------------------------------------------------------------------


def test_signed_in_gives_a_token_with_an_aware_expiry(client: Client) -> None:
    credentials = client.oauth.get_credentials(audience=SIGNED_IN)

    assert credentials is not None
    assert credentials["access_token"].startswith("access-")
    assert credentials["token_type"] == "Bearer"
    assert credentials["scope"] == "openid offline_access"
    assert credentials["integration_id"] == SIGNED_IN
    assert credentials["expiry"].tzinfo is not None
    assert 3500 < (credentials["expiry"] - datetime.now(UTC)).total_seconds() <= 3600


def test_displaying_credentials_does_not_show_the_token(client: Client) -> None:
    credentials = client.oauth.get_credentials(audience=SIGNED_IN)

    assert isinstance(credentials, dict)
    assert credentials["access_token"] not in repr(credentials)
    assert credentials["access_token"] not in str(credentials)
    assert SIGNED_IN in repr(credentials)


@pytest.mark.parametrize("audience", [NOT_SIGNED_IN, REAUTH])
def test_not_signed_in_or_reauth_required_gives_none(client: Client, audience: str) -> None:
    assert client.oauth.get_credentials(audience=audience) is None


@pytest.mark.parametrize(
    ("audience", "error", "reason", "hint"),
    [
        (UNKNOWN, UnknownIntegrationError, "unknown_integration", "integrations.find()"),
        (BROKEN, ConfigurationError, "config_error", "administrator"),
        (PROVIDER_DOWN, ProviderError, "provider_error", "sign in again"),
        ("snowflake", BadRequestError, "bad_request", "GUID"),
    ],
)
def test_errors_are_typed_and_say_what_to_do(
    client: Client, audience: str, error: type[CredentialsError], reason: str, hint: str
) -> None:
    with pytest.raises(error) as caught:
        client.oauth.get_credentials(audience=audience)

    assert isinstance(caught.value, CredentialsError)
    assert isinstance(caught.value, RuntimeError)  # as Posit's SDK raises
    assert caught.value.reason == reason
    assert caught.value.integration_id == audience
    assert hint in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_servers_own_message_is_kept(client: Client) -> None:
    with pytest.raises(ProviderError, match="HTTP 503 from its token endpoint"):
        client.oauth.get_credentials(audience=PROVIDER_DOWN)


def test_a_wrong_kernel_secret_says_restart_the_kernel(fake_server: FakeCredsServer) -> None:
    with (
        Client(fake_server.url, "stale-secret") as client,
        pytest.raises(AccessDeniedError, match="restart this kernel") as caught,
    ):
        client.oauth.get_credentials(audience=SIGNED_IN)
    assert "stale-secret" not in str(caught.value)


def test_a_server_without_the_extension_is_an_unexpected_answer(fake_server) -> None:
    url = fake_server.url.replace("/api/creds/", "/elsewhere/")
    with (
        Client(url, SECRET) as client,
        pytest.raises(UnexpectedResponseError, match="jupyter server extension list"),
    ):
        client.oauth.get_credentials(audience=SIGNED_IN)


def test_a_stopped_server_is_unreachable() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        Client(f"http://127.0.0.1:{port}/api/creds/", SECRET) as client,
        pytest.raises(ServerUnreachableError, match="Is it still running") as caught,
    ):
        client.oauth.get_credentials(audience=SIGNED_IN)
    assert SECRET not in str(caught.value)


def test_a_slow_server_is_unreachable_after_the_timeout(fake_server: FakeCredsServer) -> None:
    with (
        Client(fake_server.url, SECRET, timeout=0.1) as client,
        pytest.raises(ServerUnreachableError, match=r"did not answer within 0\.1 s"),
    ):
        client.oauth.get_credentials(audience=SLOW)


def test_outside_jupyter_the_first_call_says_how_to_check() -> None:
    client = Client()  # creating it never fails

    with pytest.raises(NotInJupyterError) as caught:
        client.oauth.get_credentials(audience=SIGNED_IN)

    message = str(caught.value)
    assert "JUPYTER_CREDS_URL and JUPYTER_CREDS_TOKEN are not set" in message
    assert "jupyter server extension list" in message
    with pytest.raises(NotInJupyterError):
        client.oauth.integrations.find()


def test_kernel_environment_is_found_without_arguments(
    fake_server: FakeCredsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CREDS_URL", fake_server.url.rstrip("/"))  # slash is optional
    monkeypatch.setenv("JUPYTER_CREDS_TOKEN", SECRET)

    with Client() as client:
        assert client.oauth.get_credentials(audience=SIGNED_IN) is not None
        assert SECRET not in repr(client)


@pytest.mark.parametrize("audience", ["", None, 42])
def test_audience_must_be_a_non_empty_string(client: Client, audience: Any) -> None:
    with pytest.raises(ValueError, match="audience"):
        client.oauth.get_credentials(audience=audience)


# --- the cache -----------------------------------------------------------------------------------


def test_a_thousand_calls_make_a_handful_of_requests(
    client: Client, fake_server: FakeCredsServer
) -> None:
    tokens = {client.oauth.get_credentials(audience=SIGNED_IN)["access_token"] for _ in range(1000)}

    assert len(tokens) == 1
    assert fake_server.count() <= 3


def test_one_connection_is_reused(fake_server: FakeCredsServer) -> None:
    with Client(fake_server.url, SECRET, cache_ttl=0) as client:
        for _ in range(10):
            client.oauth.get_credentials(audience=SIGNED_IN)

    assert fake_server.count() == 10
    assert fake_server.connections == 1


def test_a_token_is_not_reused_close_to_its_expiry(fake_server: FakeCredsServer) -> None:
    fake_server.lifetime = 2.0  # the client may keep a token for half of what is left: ~1 s
    with Client(fake_server.url, SECRET, cache_ttl=60) as client:
        first = client.oauth.get_credentials(audience=SIGNED_IN)
        time.sleep(0.5)
        assert client.oauth.get_credentials(audience=SIGNED_IN) == first
        assert fake_server.count() == 1
        time.sleep(0.6)
        client.oauth.get_credentials(audience=SIGNED_IN)
        assert fake_server.count() == 2  # asked again, ~1 s before expiry
        time.sleep(1.0)  # the first token has expired by now
        later = client.oauth.get_credentials(audience=SIGNED_IN)

    assert later["access_token"] != first["access_token"]
    assert later["expiry"] > datetime.now(UTC)


def test_a_sign_out_shows_within_cache_ttl(fake_server: FakeCredsServer) -> None:
    with Client(fake_server.url, SECRET, cache_ttl=0.3) as client:
        assert client.oauth.get_credentials(audience=SIGNED_IN) is not None
        fake_server.status[SIGNED_IN] = "not_signed_in"  # signed out in another window
        assert client.oauth.get_credentials(audience=SIGNED_IN) is not None  # cached
        time.sleep(0.35)

        assert client.oauth.get_credentials(audience=SIGNED_IN) is None


def test_not_signed_in_is_not_cached(client: Client, fake_server: FakeCredsServer) -> None:
    assert client.oauth.get_credentials(audience=NOT_SIGNED_IN) is None
    fake_server.status[NOT_SIGNED_IN] = "authenticated"  # signed in from the sidebar

    assert client.oauth.get_credentials(audience=NOT_SIGNED_IN) is not None


def test_tokens_without_expiry_are_kept_for_cache_ttl(fake_server: FakeCredsServer) -> None:
    fake_server.lifetime = None
    with Client(fake_server.url, SECRET, cache_ttl=0.2) as client:
        credentials = client.oauth.get_credentials(audience=SIGNED_IN)
        client.oauth.get_credentials(audience=SIGNED_IN)
        time.sleep(0.25)
        client.oauth.get_credentials(audience=SIGNED_IN)

    assert credentials["expiry"] is None
    assert fake_server.count() == 2


def test_cache_ttl_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Client().cache_ttl == 5.0
    monkeypatch.setenv("JUPYTER_CREDS_CACHE_TTL", "0.5")
    assert Client().cache_ttl == 0.5
    assert Client(cache_ttl=2).cache_ttl == 2.0
    monkeypatch.setenv("JUPYTER_CREDS_CACHE_TTL", "soon")
    with pytest.raises(ValueError, match="JUPYTER_CREDS_CACHE_TTL"):
        Client()
    with pytest.raises(ValueError, match="cache_ttl"):
        Client(cache_ttl=-1)


def test_changing_a_returned_dict_does_not_change_the_cache(client: Client) -> None:
    client.oauth.get_credentials(audience=SIGNED_IN)["access_token"] = "mine"

    assert client.oauth.get_credentials(audience=SIGNED_IN)["access_token"] != "mine"


def test_threads_that_miss_together_share_one_request(fake_server: FakeCredsServer) -> None:
    fake_server.status[SLOW] = "authenticated"
    results: list[str] = []
    with Client(fake_server.url, SECRET) as client:

        def work() -> None:
            for _ in range(50):
                results.append(client.oauth.get_credentials(audience=SLOW)["access_token"])

        threads = [threading.Thread(target=work) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert len(results) == 1000
    assert len(set(results)) == 1
    assert fake_server.count() == 1


def test_async_calls_do_not_block_the_event_loop(fake_server: FakeCredsServer) -> None:
    async def main() -> tuple[list, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        with Client(fake_server.url, SECRET) as client:
            tick_task = asyncio.create_task(ticker())
            answers = await asyncio.gather(
                *(client.oauth.aget_credentials(audience=SLOW) for _ in range(5)),
                client.oauth.aget_credentials(audience=NOT_SIGNED_IN),
            )
            done.set()
            await tick_task
            with pytest.raises(UnknownIntegrationError):
                await client.oauth.aget_credentials(audience=UNKNOWN)
        return answers, ticks

    answers, ticks = asyncio.run(main())

    assert ticks >= 10  # the loop kept running through the 0.5 s request
    assert len({a["access_token"] for a in answers[:5]}) == 1
    assert answers[5] is None
    assert fake_server.count("credentials") == 3  # SLOW once for five callers, then two others


# --- integrations, sign-in, sign-out -------------------------------------------------------------


def test_find_lists_integrations_with_the_sdk_names(client: Client) -> None:
    integrations = client.oauth.integrations.find()

    assert [i["guid"] for i in integrations] == [i["id"] for i in integrations]
    warehouse = integrations[0]
    assert warehouse["authenticated"] is True
    assert warehouse["expiry"] == datetime.fromtimestamp(1_900_000_000, tz=UTC)
    assert warehouse["display_name"] == "Warehouse (prod)"
    authenticated = {i["guid"] for i in integrations if i["authenticated"]}
    assert authenticated == {SIGNED_IN, SLOW}


def test_find_by_searches_names_as_regular_expressions(client: Client) -> None:
    find_by = client.oauth.integrations.find_by

    assert find_by(name="house")["guid"] == SIGNED_IN  # re.search, like the SDK
    assert find_by(name="^house$") is None
    assert find_by(display_name=r"\(prod\)$")["guid"] == SIGNED_IN
    assert find_by(authenticated=False)["guid"] == NOT_SIGNED_IN
    assert find_by(guid=BROKEN)["name"] == "broken"
    assert find_by(name="^broken$", authenticated=True) is None
    assert find_by()["guid"] == SIGNED_IN


def test_get_returns_one_integration_or_none(client: Client) -> None:
    assert client.oauth.integrations.get(BROKEN)["status"] == "config_error"
    assert client.oauth.integrations.get(UNKNOWN) is None
    assert client.oauth.integrations.get("not/a-guid") is None
    with pytest.raises(ValueError, match="guid"):
        client.oauth.integrations.get("")


def test_sign_in_gives_the_authorization_url(client: Client) -> None:
    url = client.oauth.sign_in(NOT_SIGNED_IN)

    assert url.startswith("https://idp.example.com/authorize?")
    with pytest.raises(ConfigurationError, match="Broken is misconfigured"):
        client.oauth.sign_in(BROKEN)


def test_sign_out_forgets_the_cached_token_at_once(fake_server: FakeCredsServer) -> None:
    with Client(fake_server.url, SECRET, cache_ttl=3600) as client:
        assert client.oauth.get_credentials(audience=SIGNED_IN) is not None

        client.oauth.sign_out(SIGNED_IN)

        assert client.oauth.get_credentials(audience=SIGNED_IN) is None
        client.oauth.sign_out(SIGNED_IN)  # idempotent


# --- auth objects --------------------------------------------------------------------------------


@pytest.fixture
def short_lived(fake_server: FakeCredsServer) -> Iterator[Client]:
    """Tokens that live 0.8 s: a job of a few seconds sees several expiries."""
    fake_server.lifetime = 0.8
    with Client(fake_server.url, SECRET, cache_ttl=60) as client:
        yield client


def _run_for(seconds: float, send) -> list[int]:
    statuses, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses.append(send())
        time.sleep(0.05)
    return statuses


def test_httpx2_auth_keeps_a_job_authorized_across_expiries(
    short_lived: Client, fake_server: FakeCredsServer
) -> None:
    auth = short_lived.oauth.httpx_auth(SIGNED_IN)
    with httpx2.Client(auth=auth) as http:
        statuses = _run_for(2.5, lambda: http.get(fake_server.api_url).status_code)

    assert set(statuses) == {200}
    assert len(fake_server._issued) >= 3  # the job outlived several tokens


def test_httpx_auth_keeps_a_job_authorized_across_expiries(
    short_lived: Client, fake_server: FakeCredsServer
) -> None:
    auth = short_lived.oauth.auth(SIGNED_IN)
    assert isinstance(auth, httpx.Auth)
    with httpx.Client(auth=auth) as http:
        statuses = _run_for(2, lambda: http.get(fake_server.api_url).status_code)

    assert set(statuses) == {200}


def test_requests_auth_keeps_a_job_authorized_across_expiries(
    short_lived: Client, fake_server: FakeCredsServer
) -> None:
    auth = short_lived.oauth.requests_auth(SIGNED_IN)
    assert isinstance(auth, requests.auth.AuthBase)
    with requests.Session() as session:
        session.auth = auth
        statuses = _run_for(2.5, lambda: session.get(fake_server.api_url).status_code)

    assert set(statuses) == {200}
    assert len(fake_server._issued) >= 3


def test_async_httpx2_auth_keeps_a_job_authorized(
    short_lived: Client, fake_server: FakeCredsServer
) -> None:
    async def job() -> list[int]:
        statuses = []
        async with httpx2.AsyncClient(auth=short_lived.oauth.auth(SIGNED_IN)) as http:
            for _ in range(20):
                statuses.append((await http.get(fake_server.api_url)).status_code)
                await asyncio.sleep(0.1)
        return statuses

    assert set(asyncio.run(job())) == {200}


def test_auth_raises_before_sending_when_not_signed_in(
    client: Client, fake_server: FakeCredsServer
) -> None:
    with (
        httpx2.Client(auth=client.oauth.auth(NOT_SIGNED_IN)) as http,
        pytest.raises(NotSignedInError, match="sign in"),
    ):
        http.get(fake_server.api_url)
    with pytest.raises(NotSignedInError):
        requests.get(fake_server.api_url, auth=client.oauth.auth(REAUTH), timeout=5)


def test_a_401_from_the_api_drops_the_cached_token(
    client: Client, fake_server: FakeCredsServer
) -> None:
    auth = client.oauth.auth(SIGNED_IN)
    with httpx2.Client(auth=auth) as http:
        assert http.get(fake_server.api_url).status_code == 200
        fake_server._current.clear()
        fake_server._issued.clear()  # the provider revoked it; the server has a new one
        assert http.get(fake_server.api_url).status_code == 401

        assert http.get(fake_server.api_url).status_code == 200


# --- import cost ---------------------------------------------------------------------------------


def test_importing_the_client_stays_light() -> None:
    root = Path(jupyter_creds.__file__).parent.parent
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jupyter_creds.client"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}

    assert "jupyter_creds.client" in imported
    heavy = {"jupyter_server", "tornado", "authlib", "pygments", "ipywidgets", "httpx2"}
    assert not {m.split(".")[0] for m in imported} & heavy


# --- the served snippets, run for real -----------------------------------------------------------


def _kernel_env(fake_server: FakeCredsServer) -> dict[str, str]:
    return {**os.environ, "JUPYTER_CREDS_URL": fake_server.url, "JUPYTER_CREDS_TOKEN": SECRET}


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    root = Path(jupyter_creds.__file__).parent.parent
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


def test_python_snippet_gets_a_token(fake_server: FakeCredsServer) -> None:
    code = snippet_code(SIGNED_IN, "python") + "print(access_token)\n"

    run = _run_python(code, _kernel_env(fake_server))

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == fake_server.token_for(SIGNED_IN)


def test_python_snippet_before_sign_in_leaves_credentials_none(fake_server) -> None:
    code = snippet_code(NOT_SIGNED_IN, "python") + "print(credentials)\n"

    run = _run_python(code, _kernel_env(fake_server))

    assert (run.returncode, run.stdout.strip()) == (0, "None"), run.stderr


def test_python_snippet_for_an_unknown_integration_raises_the_typed_error(fake_server) -> None:
    run = _run_python(snippet_code(UNKNOWN, "python"), _kernel_env(fake_server))

    assert run.returncode == 1
    assert "jupyter_creds.errors.UnknownIntegrationError" in run.stderr


def _run_r(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippet.R"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        ["Rscript", "--vanilla", str(script)], env=env, capture_output=True, text=True, timeout=60
    )


def test_r_snippet_gets_a_token(fake_server: FakeCredsServer, tmp_path: Path) -> None:
    code = snippet_code(SIGNED_IN, "r") + "cat(access_token)\n"

    run = _run_r(code, _kernel_env(fake_server), tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout == fake_server.token_for(SIGNED_IN)


@pytest.mark.parametrize("audience", [NOT_SIGNED_IN, REAUTH])
def test_r_snippet_before_sign_in_leaves_credentials_null(
    fake_server: FakeCredsServer, tmp_path: Path, audience: str
) -> None:
    code = snippet_code(audience, "r") + "cat(is.null(credentials))\n"

    run = _run_r(code, _kernel_env(fake_server), tmp_path)

    assert (run.returncode, run.stdout) == (0, "TRUE"), run.stderr


@pytest.mark.parametrize(
    ("audience", "message"),
    [(UNKNOWN, f"No integration {UNKNOWN}."), (BROKEN, "misconfigured: token_url is not https")],
)
def test_r_snippet_stops_with_the_servers_message(
    fake_server: FakeCredsServer, tmp_path: Path, audience: str, message: str
) -> None:
    run = _run_r(snippet_code(audience, "r"), _kernel_env(fake_server), tmp_path)

    assert run.returncode != 0
    assert message in run.stderr
    assert SECRET not in run.stderr


def test_r_snippet_outside_jupyter_says_how_to_check(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_CREDS_")}

    run = _run_r(snippet_code(SIGNED_IN, "r"), env, tmp_path)

    assert run.returncode != 0
    assert "jupyter server extension list" in run.stderr
