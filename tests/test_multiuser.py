"""JupyterHub: the credential endpoints answer only the server's owner (and the owner's kernels),
not an admin, not a user the server is shared with, not a service, unless the administrator opts
in with ``CredsApp.allow_shared_access``.

The single-user server is JupyterHub's own (``jupyterhub.singleuser.extension``, with its
``JupyterHubIdentityProvider`` and ``HubOAuth``) in a child process; only the Hub's REST API is
faked, by a small tornado app on loopback.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx2
import jupyterhub
import pytest
from conftest import ANALYTICS_ID
from cryptography.fernet import Fernet
from jupyter_server.auth.identity import User
from jupyterhub.singleuser.extension import JupyterHubUser
from server_process import ServerProcess, free_port
from signin_driver import approve
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.netutil import bind_sockets

from jupyter_creds.demo import demo_clients, integrations_toml
from jupyter_creds.handlers import KERNEL_USER, _KernelIdentity, is_server_owner
from jupyter_creds.provider import EmbeddedProvider

OWNER = "alice"
PREFIX = f"/user/{OWNER}/"
SERVER_SCOPES = [f"access:servers!server={OWNER}/", f"access:servers!user={OWNER}"]


def model(name: str, scopes: list[str], kind: str = "user", admin: bool = False) -> dict:
    return {
        "kind": kind,
        "name": name,
        "admin": admin,
        "groups": [],
        "scopes": scopes,
        "session_id": None,
    }


# Hub tokens of the people (and a service) who may reach alice's server, and one who may not.
IDENTITIES = {
    "owner": ("alice-token", model(OWNER, [f"access:servers!user={OWNER}"])),
    "shared": ("bob-token", model("bob", [f"access:servers!server={OWNER}/"])),
    "admin": ("admin-token", model("hubadmin", ["access:servers", "admin:users"], admin=True)),
    "service": ("service-token", model(OWNER, ["access:servers"], kind="service")),
    "stranger": ("carol-token", model("carol", ["read:users:name!user=carol"])),
}
NOT_THE_OWNER = ("shared", "admin", "service")
CREDENTIAL_ROUTES = [
    ("GET", "api/creds/integrations"),
    ("GET", f"api/creds/integrations/{ANALYTICS_ID}"),
    ("GET", f"api/creds/integrations/{ANALYTICS_ID}/snippet?language=python"),
    ("GET", f"api/creds/credentials?audience={ANALYTICS_ID}"),
    ("POST", f"api/creds/integrations/{ANALYTICS_ID}/signin"),
    ("POST", f"api/creds/integrations/{ANALYTICS_ID}/signout"),
]


class FakeHub:
    """The two Hub API calls a single-user server makes: ``GET /hub/api/`` (the Hub's version, at
    start-up) and ``GET /hub/api/user`` (who holds this token, with which scopes)."""

    def __init__(self, users: dict[str, dict]) -> None:
        self.users = users
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    def start(self) -> FakeHub:
        self._thread.start()
        assert self._ready.wait(10), "the fake Hub did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        users = self.users

        class Version(web.RequestHandler):
            def get(self) -> None:
                self.set_header("X-JupyterHub-Version", jupyterhub.__version__)
                self.write({"version": jupyterhub.__version__})

        class WhoAmI(web.RequestHandler):
            def get(self) -> None:
                match = re.match(
                    r"(?:token|bearer)\s+(\S+)",
                    self.request.headers.get("Authorization", ""),
                    re.IGNORECASE,
                )
                user = users.get(match.group(1)) if match else None
                if user is None:
                    self.set_status(403)
                    self.write({"status": 403, "message": "unknown token"})
                    return
                self.write(user)

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        server = HTTPServer(web.Application([(r"/hub/api/?", Version), (r"/hub/api/user", WhoAmI)]))
        server.add_sockets(sockets)
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()


@pytest.fixture
def hub_server_factory(tmp_path: Path):
    """Start alice's single-user server (JupyterHub's) with jupyter_creds; stop all at the end."""
    started: list[tuple[ServerProcess, FakeHub, EmbeddedProvider]] = []

    def start(allow_shared_access: bool) -> tuple[ServerProcess, EmbeddedProvider]:
        home = tmp_path / f"hub-{len(started)}"
        provider = EmbeddedProvider(clients=demo_clients(PREFIX)).start()
        hub = FakeHub({token: user for token, user in IDENTITIES.values()}).start()
        integrations = home / "integrations.toml"
        home.mkdir()
        integrations.write_text(integrations_toml(provider.issuer), encoding="utf-8")
        port = free_port()
        server = ServerProcess(
            home,
            creds={
                "integrations_file": str(integrations),
                "store_path": str(home / "state" / "tokens.db"),
                "allow_shared_access": allow_shared_access,
            },
            env={
                "JUPYTER_CREDS_KEY": Fernet.generate_key().decode(),
                "JUPYTERHUB_USER": OWNER,
                "JUPYTERHUB_SERVER_NAME": "",
                "JUPYTERHUB_API_URL": hub.api_url,
                "JUPYTERHUB_API_TOKEN": "the-servers-own-hub-token",
                "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{OWNER}",
                "JUPYTERHUB_BASE_URL": "/",
                "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
                "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{PREFIX}",
                "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
                "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(SERVER_SCOPES),
                "JUPYTERHUB_OAUTH_SCOPES": json.dumps(SERVER_SCOPES),
            },
            command=[
                sys.executable,
                "-c",
                "from jupyterhub.singleuser.extension import main; main()",
            ],
            base_url=PREFIX,
            token=IDENTITIES["owner"][0],
            port=port,
        )
        started.append((server, hub, provider))
        server.start()
        server.wait_ready()
        return server, provider

    yield start
    for server, hub, provider in started:
        server.stop()
        hub.stop()
        provider.stop()


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"token {IDENTITIES[who][0]}"}


async def sign_in_as_owner(server: ServerProcess, http: httpx2.AsyncClient) -> None:
    resp = await http.post(
        server.url + f"api/creds/integrations/{ANALYTICS_ID}/signin", headers=as_("owner")
    )
    assert resp.status_code == 200, resp.text
    page = await http.get(await approve(http, resp.json()["authorization_url"]))
    assert page.status_code == 200, page.text


def kernel_secret(server: ServerProcess) -> str:
    """The secret the server gives its kernels, read from a kernel it started (the only place
    it goes): the environment of the server's child process."""
    assert server.proc is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid != server.proc.pid:
                    continue
                environ = (stat.parent / "environ").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            for item in environ:
                if item.startswith(b"JUPYTER_CREDS_TOKEN="):
                    return item.split(b"=", 1)[1].decode()
        time.sleep(0.1)
    raise AssertionError("no kernel with JUPYTER_CREDS_TOKEN found")


def test_only_the_owner_and_the_owners_kernels_use_the_credentials(hub_server_factory):
    server, _ = hub_server_factory(allow_shared_access=False)

    async def run() -> int:
        async with httpx2.AsyncClient(timeout=20, trust_env=False) as http:
            # Given alice signed in on her server
            await sign_in_as_owner(server, http)
            refused = 0
            # When others who can reach her server call the credential endpoints
            for who in (*NOT_THE_OWNER, "stranger"):
                # (they can reach it: the Hub's auth lets admins and shared users in)
                status = await http.get(server.url + "api/status", headers=as_(who))
                assert status.status_code == (403 if who == "stranger" else 200), (who, status)
                for method, path in CREDENTIAL_ROUTES:
                    resp = await http.request(method, server.url + path, headers=as_(who))
                    # Then every one of them is refused, and sees no token
                    assert resp.status_code == 403, (who, method, path, resp.text)
                    assert "access_token" not in resp.text
                    assert "authorization_url" not in resp.text
                    refused += 1
            # And alice is still signed in (nobody signed her out), and she gets her token
            for method, path in CREDENTIAL_ROUTES[:-1]:
                resp = await http.request(method, server.url + path, headers=as_("owner"))
                assert resp.status_code == 200, (method, path, resp.text)
            creds = await http.get(
                server.url + "api/creds/credentials",
                params={"audience": ANALYTICS_ID},
                headers=as_("owner"),
            )
            assert creds.status_code == 200
            # And so do her kernels, with the kernel secret, unless it comes through a proxy
            started = await http.post(
                server.url + "api/kernels", headers=as_("owner"), json={"name": "python3"}
            )
            assert started.status_code == 201, started.text
            secret = await asyncio.to_thread(kernel_secret, server)
            bearer = {"Authorization": f"Bearer {secret}"}
            kernel = await http.get(
                server.url + "api/creds/credentials",
                params={"audience": ANALYTICS_ID},
                headers=bearer,
            )
            assert kernel.status_code == 200, kernel.text
            assert kernel.json()["access_token"] == creds.json()["access_token"]
            for header in ("X-Forwarded-For", "X-Real-Ip", "Forwarded"):
                proxied = await http.get(
                    server.url + "api/creds/credentials",
                    params={"audience": ANALYTICS_ID},
                    headers={**bearer, header: "203.0.113.9"},
                )
                assert proxied.status_code == 403, (header, proxied.text)
                refused += 1
            return refused

    refused = asyncio.run(run())
    assert "the credentials belong to 'alice'" in server.log
    print(f"requests by others refused: {refused}, tokens leaked: 0")


def test_the_administrator_can_allow_shared_access(hub_server_factory):
    server, _ = hub_server_factory(allow_shared_access=True)

    async def run() -> None:
        async with httpx2.AsyncClient(timeout=20, trust_env=False) as http:
            await sign_in_as_owner(server, http)
            owner = await http.get(
                server.url + "api/creds/credentials",
                params={"audience": ANALYTICS_ID},
                headers=as_("owner"),
            )
            for who in ("shared", "admin"):
                resp = await http.get(
                    server.url + "api/creds/credentials",
                    params={"audience": ANALYTICS_ID},
                    headers=as_(who),
                )
                assert resp.status_code == 200, (who, resp.text)
                assert resp.json()["access_token"] == owner.json()["access_token"]
            # someone the Hub does not let in is still refused, by the Hub's auth
            stranger = await http.get(
                server.url + "api/creds/integrations", headers=as_("stranger")
            )
            assert stranger.status_code == 403

    asyncio.run(run())


# -- unit level: who is the owner, and the kernel secret from a non-loopback peer -----------------


def test_owner_check() -> None:
    hub = {who: JupyterHubUser(user) for who, (_, user) in IDENTITIES.items()}
    assert is_server_owner(hub["owner"], OWNER)
    for who in (*NOT_THE_OWNER, "stranger"):
        assert not is_server_owner(hub[who], OWNER), who
    # a Hub user when the server does not know its owner: fail closed
    assert not is_server_owner(hub["owner"], None)
    # without JupyterHub, whoever passed the server's own auth is its owner
    assert is_server_owner(User(username="7f3c0a"), None)
    assert is_server_owner(User(username="7f3c0a"), OWNER)


class _NobodyElse:
    def get_user(self, handler):
        return None

    def is_token_authenticated(self, handler):
        return False


def fake_handler(remote_ip: str, **headers: str) -> SimpleNamespace:
    """What the identity wrapper reads of a request: its headers and its peer's address."""
    return SimpleNamespace(
        request=SimpleNamespace(headers=HTTPHeaders(headers), remote_ip=remote_ip)
    )


@pytest.mark.parametrize(
    ("remote_ip", "headers", "accepted"),
    [
        ("127.0.0.1", {}, True),
        ("::1", {}, True),
        ("203.0.113.7", {}, False),
        ("10.0.0.5", {}, False),
        ("fe80::1", {}, False),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}, False),
        ("127.0.0.1", {"X-Real-Ip": "127.0.0.1"}, False),
        ("127.0.0.1", {"Forwarded": "for=127.0.0.1"}, False),
        ("127.0.0.1", {"X-Forwarded-Host": "evil.example"}, False),
        ("", {}, False),
    ],
)
def test_kernel_secret_only_from_a_loopback_peer_without_proxy_headers(
    remote_ip: str, headers: dict[str, str], accepted: bool
) -> None:
    identity = _KernelIdentity(_NobodyElse(), "s3cret-kernel-token")
    handler = fake_handler(remote_ip, Authorization="Bearer s3cret-kernel-token", **headers)
    assert (identity.get_user(handler) is KERNEL_USER) is accepted
    assert identity.is_token_authenticated(handler) is accepted
