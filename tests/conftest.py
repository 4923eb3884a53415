"""Fixtures: a real jupyter_server with the extension (pytest-jupyter) and the embedded provider."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from signin_driver import approve

from jupyter_creds.demo import (
    ANALYTICS_ID,
    BROKEN_ID,
    SECRET_ENV,
    WAREHOUSE_ID,
    demo_clients,
    integrations_toml,
)
from jupyter_creds.provider import EmbeddedProvider

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# Values planted so that tests can grep logs and files for them: the demo's confidential client
# takes its secret from this variable.
SENTINEL_SECRET = "sentinel-client-secret-5b7e1f"
os.environ[SECRET_ENV] = SENTINEL_SECRET
os.environ.pop("JUPYTER_CREDS_KEY", None)


@pytest.fixture
def provider(jp_base_url: str) -> Iterator[EmbeddedProvider]:
    with EmbeddedProvider(clients=demo_clients(jp_base_url), token_lifetime=120).start() as p:
        yield p


@pytest.fixture
def integrations_file(tmp_path: Path, provider: EmbeddedProvider) -> Path:
    path = tmp_path / "integrations.toml"
    path.write_text(integrations_toml(provider.issuer), encoding="utf-8")
    return path


@pytest.fixture
def creds_config(tmp_path: Path, integrations_file: Path) -> dict:
    """CredsApp settings; tests may update this dict before the server starts."""
    return {
        "integrations_file": str(integrations_file),
        "store_path": str(tmp_path / "state" / "tokens.db"),
        "key_file": str(tmp_path / "state" / "tokens.key"),
        "discovery_retry_interval": 1.0,
        "http_timeout": 5.0,
    }


@pytest.fixture
def jp_server_config(creds_config: dict) -> dict:
    return {
        "ServerApp": {
            # terminals would only add noise (its websocket handler warns under `-W error`)
            "jpserver_extensions": {"jupyter_creds": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        },
        "CredsApp": creds_config,
    }


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def debug_logs() -> Iterator[_Collect]:
    """Every log line, at DEBUG, from the server, tornado, the extension and the root logger.
    (authlib and httpx2 stay at the WARNING level the extension sets: that is the invariant.)"""
    collect = _Collect()
    names = [
        "",
        "ServerApp",
        "CredsApp",
        "tornado",
        "tornado.access",
        "tornado.application",
        "tornado.general",
        "jupyter_creds",
        "jupyter_creds.provider",
    ]
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(collect)
    yield collect
    for logger, level in saved:
        logger.removeHandler(collect)
        logger.setLevel(level)


@pytest.fixture
def creds_app(jp_serverapp):
    """The running extension app (services, settings)."""
    return jp_serverapp.web_app.settings["jupyter_creds"]


class Api:
    """The REST contract, as the browser front end uses it (server token auth)."""

    def __init__(self, fetch):
        self._fetch = fetch

    async def call(self, method: str, *parts: str, params=None, body=None):
        kwargs = {"method": method, "raise_error": False, "params": params or {}}
        if method == "POST":
            kwargs["body"] = json.dumps(body or {})
        resp = await self._fetch("api", "creds", *parts, **kwargs)
        data = json.loads(resp.body) if resp.body else None
        return resp.code, data, resp

    async def integrations(self) -> dict[str, dict]:
        code, data, _ = await self.call("GET", "integrations")
        assert code == 200, data
        return {i["id"]: i for i in data["integrations"]}

    async def credentials(self, integration_id: str):
        return await self.call("GET", "credentials", params={"audience": integration_id})

    async def sign_out(self, integration_id: str) -> int:
        code, _, _ = await self.call("POST", "integrations", integration_id, "signout")
        return code


@pytest.fixture
def api(jp_fetch) -> Api:
    return Api(jp_fetch)


@pytest.fixture
def browser(jp_asyncio_loop) -> Iterator[httpx2.AsyncClient]:
    """A person's browser: cookies, no automatic redirects, loopback only."""
    client = httpx2.AsyncClient(timeout=10, follow_redirects=False)
    yield client
    jp_asyncio_loop.run_until_complete(client.aclose())


@pytest.fixture
def sign_in(api: Api, browser: httpx2.AsyncClient):
    """Sign in through the provider's pages and our callback; returns the callback response."""

    async def run(integration_id: str = ANALYTICS_ID, **kwargs) -> httpx2.Response:
        code, data, _ = await api.call("POST", "integrations", integration_id, "signin")
        assert code == 200, data
        callback = await approve(browser, data["authorization_url"], **kwargs)
        return await browser.get(callback)

    return run


__all__ = ["ANALYTICS_ID", "BROKEN_ID", "SENTINEL_SECRET", "WAREHOUSE_ID"]
