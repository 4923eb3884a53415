"""What the benchmarks measure against: the provider, integrations files, pre-filled token stores,
a sign-in through the provider's pages, and the kernel secret read inside a real kernel."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from urllib.parse import urljoin

from ..demo import SCOPES, SECRET_ENV
from ..provider.forms import parse_form
from ..store import StoredTokens, TokenStore
from .servers import BenchError, JupyterServer

_ID_NAMESPACE = uuid.UUID("0b3e9f3c-6d0a-4f5e-8a54-6c1d2e7f9a10")
KERNEL_TIMEOUT = 60.0


def integration_ids(count: int) -> list[str]:
    """Stable GUIDs for generated integrations."""
    return [str(uuid.uuid5(_ID_NAMESPACE, f"bench-{i}")) for i in range(count)]


def write_integrations(path: Path, issuer: str, ids: list[str]) -> Path:
    """An integrations file of working integrations that all share the embedded provider (one
    issuer, so OIDC discovery is one request however many integrations there are)."""
    scopes = json.dumps(SCOPES)
    entries = [
        f'[[integration]]\nid = "{guid}"\nname = "bench-{i:04d}"\n'
        f'display_name = "Benchmark integration {i}"\nissuer = "{issuer}"\n'
        f'client_id = "demo-analytics"\nclient_secret_env = "{SECRET_ENV}"\nscopes = {scopes}\n'
        for i, guid in enumerate(ids)
    ]
    path.write_text("\n".join(entries), encoding="utf-8")
    return path


def fill_store(path: Path, key: str, ids: list[str]) -> None:
    """Store valid-looking tokens (a day to live, with a refresh token) for ``ids``: what a server
    finds after its users signed in. The tokens are never sent to the provider."""
    store = TokenStore(path, [key])
    now = time.time()
    try:
        for i, guid in enumerate(ids):
            store.save(
                StoredTokens(
                    guid,
                    access_token=f"bench-access-{i:04d}-" + "a" * 600,  # JWT-sized
                    refresh_token=f"bench-refresh-{i:04d}-" + "r" * 40,
                    scope=" ".join(SCOPES),
                    expires_at=now + 86400,
                    obtained_at=now,
                    account=f"user{i}@example.com",
                )
            )
    finally:
        store.close()


def sign_in(server: JupyterServer, integration_id: str) -> None:
    """Sign in as the demo user: the REST call, the provider's login and consent pages, and the
    callback page, all over HTTP with a cookie-keeping client that does not follow redirects."""
    import httpx2

    rest = server.http()
    try:
        url = rest.json("POST", f"/api/creds/integrations/{integration_id}/signin")[
            "authorization_url"
        ]
    finally:
        rest.close()
    with httpx2.Client(timeout=30, follow_redirects=False, trust_env=False) as browser:
        resp = browser.get(url)
        for _ in range(4):  # the login page, then the consent page
            if resp.status_code in (302, 303):
                callback = browser.get(urljoin(url, resp.headers["location"]))
                if callback.status_code != 200:
                    raise BenchError(f"the sign-in callback answered {callback.status_code}")
                return
            if resp.status_code != 200:
                raise BenchError(f"the provider answered {resp.status_code}: {resp.text[:300]}")
            form = parse_form(resp.text)
            data = dict(form.fields)
            if "password" in data:
                data.update(username="demo", password="demo")  # noqa: S106 (the demo account)
            else:
                data["decision"] = "approve"
            url = urljoin(url, form.action or url)
            resp = browser.post(url, data=data)
    raise BenchError("the provider never redirected back to the server")


def kernel_environment(server: JupyterServer) -> tuple[str, str]:
    """(JUPYTER_CREDS_URL, JUPYTER_CREDS_TOKEN) as a kernel sees them: start a Python kernel
    through the REST API, run code in it, shut it down. The secret is kept in memory only."""
    from jupyter_client import BlockingKernelClient

    rest = server.http()
    kernel_id = rest.json("POST", "/api/kernels", {"name": "python3"}, expect=201)["id"]
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    try:
        client = BlockingKernelClient(
            connection_file=str(server.runtime_dir / f"kernel-{kernel_id}.json")
        )
        client.load_connection_file()
        # No heartbeat channel: it declares the kernel dead after 1 s without an answer, which
        # a kernel still starting on a busy machine easily misses. kernel_info is enough.
        client.start_channels(hb=False)
        try:
            client.wait_for_ready(timeout=KERNEL_TIMEOUT)
            client.execute_interactive(
                "import os\nprint(os.environ.get('JUPYTER_CREDS_URL', ''))\n"
                "print(os.environ.get('JUPYTER_CREDS_TOKEN', ''))",
                output_hook=hook,
                timeout=KERNEL_TIMEOUT,
            )
        finally:
            client.stop_channels()
    finally:
        rest.request("DELETE", f"/api/kernels/{kernel_id}")
        rest.close()
    lines = "".join(out).split()
    if errors or len(lines) != 2:
        raise BenchError(
            f"the kernel did not show JUPYTER_CREDS_URL and JUPYTER_CREDS_TOKEN: {errors}"
        )
    return lines[0], lines[1]
