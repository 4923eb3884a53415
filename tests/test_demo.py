"""`jupyter creds demo`, driven over HTTP the way the issue's checker will drive it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from jupyter_creds.demo import ANALYTICS_ID, BROKEN_ID, WAREHOUSE_ID

TOKEN = "demo-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Demo:
    def __init__(self, url: str, issuer: str, log: Path):
        self.url = url
        self.issuer = issuer
        self.log = log


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    env.pop("JUPYTER_CREDS_DEMO_SECRET", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_creds.cli",
                "demo",
                "--no-browser",
                "--port",
                str(port),
                f"--IdentityProvider.token={TOKEN}",
                "--allow-root",
                "--token-lifetime",
                "3",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if (
                    httpx2.get(
                        url + "api/status", headers={"Authorization": f"token {TOKEN}"}, timeout=2
                    ).status_code
                    == 200
                ):
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("demo did not start:\n" + log.read_text())
        issuer = re.search(r"provider at (http://127\.0\.0\.1:\d+)", log.read_text()).group(1)
        yield Demo(url, issuer, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def form_submit(client: httpx2.Client, url: str, html: str, extra: dict) -> httpx2.Response:
    from signin_driver import parse_form

    form = parse_form(html)
    data = {**form.fields, **extra}
    return client.post(httpx2.URL(url).join(form.action or url), data=data)


@pytest.fixture
def api(demo: Demo) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"token {TOKEN}"}
    with httpx2.Client(base_url=demo.url + "api/creds/", headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def person() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def test_demo_end_to_end_over_http(demo: Demo, api: httpx2.Client, person: httpx2.Client):
    # the list: two working integrations and one broken one with a reason
    rows = {i["id"]: i for i in api.get("integrations").json()["integrations"]}
    assert set(rows) == {ANALYTICS_ID, WAREHOUSE_ID, BROKEN_ID}
    assert rows[BROKEN_ID]["status"] == "config_error"
    assert "token_url" in rows[BROKEN_ID]["error"]
    assert rows[ANALYTICS_ID]["status"] == "not_signed_in"

    # sign in through the provider's login and consent pages, as a person would
    auth_url = api.post(f"integrations/{ANALYTICS_ID}/signin").json()["authorization_url"]
    assert auth_url.startswith(demo.issuer)
    redirect_uri = parse_qs(urlsplit(auth_url).query)["redirect_uri"][0]
    assert redirect_uri == demo.url + "creds/oauth/callback"  # same host as the printed URL
    login = person.get(auth_url)
    consent = form_submit(person, auth_url, login.text, {"username": "demo", "password": "demo"})
    back = form_submit(person, str(consent.url), consent.text, {"decision": "approve"})
    assert back.status_code == 302
    page = person.get(back.headers["location"])
    assert page.status_code == 200
    assert "Signed in to Demo Analytics" in page.text

    # the same callback again: refused
    assert person.get(back.headers["location"]).status_code == 400
    # a made-up state: refused
    assert person.get(demo.url + "creds/oauth/callback?code=x&state=y").status_code == 400

    creds = api.get("credentials", params={"audience": ANALYTICS_ID})
    assert creds.status_code == 200
    token = creds.json()["access_token"]
    assert (
        person.get(demo.issuer + "/userinfo", headers={"Authorization": f"Bearer {token}"}).json()[
            "sub"
        ]
        == "demo-user"
    )

    # bad ids
    assert api.get("integrations/not-a-guid").json()["reason"] == "bad_request"
    missing = api.get("integrations/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()["reason"]) == (404, "unknown_integration")

    # sign out
    assert api.post(f"integrations/{ANALYTICS_ID}/signout").status_code == 204
    assert api.get(f"integrations/{ANALYTICS_ID}").json()["status"] == "not_signed_in"

    # JupyterLab itself is served
    assert person.get(demo.url + f"lab?token={TOKEN}").status_code == 200
