"""The embedded OpenID Connect provider: a tornado app in its own thread and event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType

from joserfc.jwk import RSAKey
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .app import Runtime, make_app
from .faults import RequestLedger
from .models import ProviderClient, is_loopback_host
from .server import ProviderAuthorizationServer
from .state import ProviderState

log = logging.getLogger("jupyter_creds.provider")

DEFAULT_USERS = {"demo": "demo"}
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


class EmbeddedProvider:
    """A local OpenID Connect provider on loopback, for the demo and the tests.

    ``start()`` runs it in a daemon thread with its own asyncio loop and returns once it
    listens; ``stop()`` shuts it down (idempotent). ``start()`` after ``stop()`` serves the
    same state on the same port again, which is how a test simulates a provider restart.
    ``token_lifetime``, ``refresh_token_lifetime``, ``issue_refresh_tokens`` and
    ``send_expires_in`` are read at every request, so tests may change them at run time.
    """

    def __init__(
        self,
        *,
        clients: Sequence[ProviderClient] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float = 120,
        refresh_token_lifetime: float = 86400,
        users: Mapping[str, str] | None = None,
        issue_refresh_tokens: bool = True,
        send_expires_in: bool = True,
    ):
        if token_lifetime <= 0 or refresh_token_lifetime <= 0:
            raise ValueError("token lifetimes must be positive")
        if not (is_loopback_host(host) or os.environ.get("AUTHLIB_INSECURE_TRANSPORT")):
            # authlib refuses plain-http OAuth requests to non-loopback addresses.
            raise ValueError(
                f"the embedded provider serves plain http and binds loopback only, not {host!r} "
                "(set AUTHLIB_INSECURE_TRANSPORT=1 to override at your own risk)"
            )
        users = dict(DEFAULT_USERS if users is None else users)
        self.host = host
        self.port = port
        self.token_lifetime = float(token_lifetime)
        self.refresh_token_lifetime = float(refresh_token_lifetime)
        self.issue_refresh_tokens = issue_refresh_tokens
        self.send_expires_in = send_expires_in
        self._state = ProviderState(clients, users)
        self._ledger = RequestLedger()
        self._key: RSAKey | None = None
        self._login_hint = "Demo account: demo / demo" if users.get("demo") == "demo" else None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._lifecycle = threading.Lock()

    # lifecycle ------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        if not self.port:
            raise RuntimeError("the provider has no issuer before start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> EmbeddedProvider:
        with self._lifecycle:
            if self.running:
                return self
            if self._key is None:
                self._key = RSAKey.generate_key(
                    2048, parameters={"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
                )
            ready = threading.Event()
            self._startup_error = None
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name=f"embedded-provider-{self.port}", daemon=True
            )
            self._thread.start()
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the embedded provider did not start in time")
            if self._startup_error is not None:
                self._thread.join(_STOP_TIMEOUT)
                self._thread = None
                raise RuntimeError(
                    f"the embedded provider could not listen on {self.host}:{self.port}"
                ) from self._startup_error
            log.info("embedded provider listening at %s", self.issuer)
            return self

    def stop(self) -> None:
        with self._lifecycle:
            thread, loop, stopping = self._thread, self._loop, self._stopping
            if thread is None:
                return
            if loop is not None and stopping is not None and not loop.is_closed():
                # RuntimeError: the loop closed in between
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(stopping.set)
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("embedded provider thread did not stop in time")
            self._thread = None

    def __enter__(self) -> EmbeddedProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # reported to start(), or logged
            if ready.is_set():
                log.exception("embedded provider crashed")
            else:
                self._startup_error = exc
                ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        assert self._key is not None
        sockets = bind_sockets(self.port, self.host)
        self.port = sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        runtime = Runtime(
            state=self._state,
            server=ProviderAuthorizationServer(self._state, self, self._key),
            ledger=self._ledger,
            settings=self,
            key=self._key,
            stopping=stopping,
            session_cookie=f"jcp_session_{self.port}",
            login_hint=self._login_hint,
        )
        server = HTTPServer(make_app(runtime))
        server.add_sockets(sockets)
        ready.set()
        try:
            await stopping.wait()
        finally:
            server.stop()
            # Stalled requests saw `stopping` too and drop their connections; let them run.
            for _ in range(3):
                await asyncio.sleep(0)
            try:
                await asyncio.wait_for(server.close_all_connections(), _STOP_TIMEOUT / 2)
            except TimeoutError:
                log.warning("embedded provider: some connections did not close")

    # state and test hooks -------------------------------------------------------------

    def add_client(self, client: ProviderClient) -> None:
        """Register (or replace) a client, also while running."""
        self._state.add_client(client)

    def requests_count(self, endpoint: str, grant_type: str | None = None) -> int:
        """Requests seen by ``endpoint`` (and with ``grant_type``), faulted ones included."""
        return self._ledger.count(endpoint, grant_type)

    def inject_fault(self, endpoint: str, kind: str, count: int = 1) -> None:
        """Make the next ``count`` requests to ``endpoint`` fail as ``kind``."""
        self._ledger.inject(endpoint, kind, count)

    def clear_faults(self) -> None:
        self._ledger.clear()
