"""Bad configuration shows up as `config_error` with a reason; the server and the rest work."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from conftest import ANALYTICS_ID

from jupyter_creds.demo import integrations_toml

IDS = {
    name: str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    for name in (
        "no-client",
        "dup",
        "plain-http",
        "no-secret",
        "unreachable",
        "mismatch",
        "no-token-url",
    )
}


def broken_entries(issuer: str) -> str:
    port = issuer.rsplit(":", 1)[1]
    return textwrap.dedent(f"""
        [[integration]]
        id = "{IDS["no-client"]}"
        name = "no-client"
        issuer = "{issuer}"

        [[integration]]
        id = "not-a-guid"
        name = "bad-guid"
        client_id = "x"
        issuer = "{issuer}"

        [[integration]]
        id = "{IDS["dup"]}"
        name = "dup-one"
        client_id = "x"
        issuer = "{issuer}"

        [[integration]]
        id = "{IDS["dup"]}"
        name = "dup-two"
        client_id = "y"
        issuer = "{issuer}"

        [[integration]]
        id = "{IDS["plain-http"]}"
        name = "plain-http"
        client_id = "x"
        auth_url = "http://idp.example.com/authorize"
        token_url = "https://idp.example.com/token"

        [[integration]]
        id = "{IDS["no-secret"]}"
        name = "no-secret"
        client_id = "x"
        issuer = "{issuer}"
        client_secret_env = "JUPYTER_CREDS_TEST_UNSET_SECRET"

        [[integration]]
        id = "{IDS["unreachable"]}"
        name = "unreachable"
        client_id = "x"
        issuer = "http://127.0.0.1:9"

        [[integration]]
        id = "{IDS["mismatch"]}"
        name = "mismatch"
        client_id = "x"
        issuer = "http://localhost:{port}"

        [[integration]]
        id = "{IDS["no-token-url"]}"
        name = "no-token-url"
        client_id = "x"
        auth_url = "https://idp.example.com/authorize"
    """)


EXPECTED = {
    "no-client": "missing client_id",
    "bad-guid": "is not a GUID",
    "dup-one": "duplicate id",
    "plain-http": "must use https",
    "no-secret": "JUPYTER_CREDS_TEST_UNSET_SECRET",
    "unreachable": "discovery failed",
    "mismatch": "issuer mismatch",
    "no-token-url": "missing token_url",
}


@pytest.fixture
def integrations_file(tmp_path: Path, provider) -> Path:
    path = tmp_path / "integrations.toml"
    path.write_text(integrations_toml(provider.issuer) + broken_entries(provider.issuer))
    return path


async def test_each_config_error_has_its_reason_and_the_rest_works(api, sign_in, integrations_file):
    rows = {row["name"]: row for row in (await api.integrations()).values()}

    for name, phrase in EXPECTED.items():
        assert rows[name]["status"] == "config_error", (name, rows[name])
        assert phrase in rows[name]["error"], (name, rows[name]["error"])
    assert "dup-two" not in rows  # the duplicate id is one row, in error
    # a broken integration can't start a sign-in, and says why
    code, err, _ = await api.call("POST", "integrations", IDS["no-client"], "signin")
    assert (code, err["reason"]) == (409, "config_error")
    assert "missing client_id" in err["message"]
    code, err, _ = await api.credentials(IDS["no-client"])
    assert (code, err["reason"]) == (409, "config_error")

    # the good integrations keep working
    assert rows["analytics"]["status"] == "not_signed_in"
    assert (await sign_in(ANALYTICS_ID)).status_code == 200


def test_validate_reports_the_same_reasons(integrations_file, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_creds.cli", "validate", str(integrations_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
            "JUPYTER_CREDS_DEMO_SECRET": "s3cret",
            "HOME": str(tmp_path),
        },
    )
    assert result.returncode == 1, result.stdout + result.stderr
    for phrase in EXPECTED.values():
        assert phrase in result.stdout, (phrase, result.stdout)
    assert "2 ok, 9 broken" in result.stdout  # + the demo's own broken one


async def test_file_is_reread_when_it_changes(api, integrations_file, provider):
    rows = await api.integrations()
    assert IDS["no-token-url"] in rows
    integrations_file.write_text(integrations_toml(provider.issuer))  # the admin removes the rest
    await asyncio.sleep(1.1)  # the registry looks at the file at most once a second
    rows = await api.integrations()
    assert IDS["no-token-url"] not in rows
    assert len(rows) == 3


@pytest.fixture
def late_port() -> int:
    """A loopback port where a provider will start only later."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def late_integrations(tmp_path: Path, creds_config: dict, late_port: int) -> None:
    late = tmp_path / "late.toml"
    late.write_text(integrations_toml(f"http://127.0.0.1:{late_port}"))
    creds_config["integrations_file"] = str(late)


async def test_failed_discovery_is_retried(late_integrations, api, late_port, jp_base_url):
    # Given an integration whose provider is down when the server starts
    from jupyter_creds.demo import demo_clients
    from jupyter_creds.provider import EmbeddedProvider

    rows = {row["name"]: row for row in (await api.integrations()).values()}
    assert "discovery failed" in rows["analytics"]["error"]

    # When the provider comes up, the next looks (1 s retry interval here) find it
    with EmbeddedProvider(clients=demo_clients(jp_base_url), port=late_port).start():
        for _ in range(50):  # bounded: 5 s
            await asyncio.sleep(0.1)
            rows = {row["name"]: row for row in (await api.integrations()).values()}
            if rows["analytics"]["status"] != "config_error":
                break
    assert rows["analytics"]["status"] == "not_signed_in", rows["analytics"]


@pytest.fixture
def config_integration(creds_config: dict, provider) -> str:
    """An integration given in Jupyter config (traitlets) rather than in the file."""
    integration_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, "from-traitlets"))
    creds_config["integrations"] = [
        {
            "id": integration_id,
            "name": "from-config",
            "display_name": "From Jupyter config",
            "issuer": provider.issuer,
            "client_id": "demo-warehouse",
            "scopes": ["openid", "offline_access"],
        }
    ]
    return integration_id


async def test_integrations_from_traitlets_config_work_too(config_integration, api, sign_in):
    rows = await api.integrations()
    assert rows[config_integration]["display_name"] == "From Jupyter config"
    assert rows[config_integration]["status"] == "not_signed_in"
    assert rows[config_integration]["token_url"].endswith("/token")  # from discovery
    assert (await sign_in(config_integration)).status_code == 200
    assert (await api.integrations())[config_integration]["status"] == "authenticated"


def test_list_prints_the_configured_integrations(integrations_file, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_creds.cli", "list", str(integrations_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        },
    )
    assert result.returncode == 0, result.stderr
    for name in ("analytics", "warehouse", "legacy-crm", "no-client"):
        assert name in result.stdout
