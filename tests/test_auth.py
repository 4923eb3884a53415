"""Every handler is authenticated and authorized; the kernel secret works only where it should."""

from __future__ import annotations

import os

import pytest
from conftest import ANALYTICS_ID

ROUTES = [
    ("GET", "api/creds/integrations"),
    ("GET", f"api/creds/integrations/{ANALYTICS_ID}"),
    ("POST", f"api/creds/integrations/{ANALYTICS_ID}/signin"),
    ("POST", f"api/creds/integrations/{ANALYTICS_ID}/signout"),
    ("GET", f"api/creds/integrations/{ANALYTICS_ID}/snippet?language=python"),
    ("GET", f"api/creds/credentials?audience={ANALYTICS_ID}"),
]


@pytest.fixture
def server_url(api, jp_http_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def kernel_secret(api) -> str:
    return os.environ["JUPYTER_CREDS_TOKEN"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_no_auth_is_refused(browser, server_url, method, path):
    resp = await browser.request(method, server_url + path)
    assert resp.status_code in (302, 403), resp.text
    assert "authorization_url" not in resp.text
    assert "access_token" not in resp.text


async def test_cookie_post_without_xsrf_is_refused(browser, server_url, jp_serverapp):
    # A browser that logged in with the token holds a login cookie ...
    token = jp_serverapp.identity_provider.token
    login = await browser.get(server_url + f"api/creds/integrations?token={token}")
    assert login.status_code == 200
    assert browser.cookies
    # ... but a cross-site form can't send the XSRF header: refused
    path = f"api/creds/integrations/{ANALYTICS_ID}/signin"
    refused = await browser.post(server_url + path)
    assert refused.status_code == 403
    # The Jupyter front end can (double-submit: the _xsrf cookie and the same value in a header)
    xsrf = "0123456789abcdef0123456789abcdef"
    browser.cookies.set("_xsrf", xsrf, domain="127.0.0.1")
    accepted = await browser.post(server_url + path, headers={"X-XSRFToken": xsrf})
    assert accepted.status_code == 200, accepted.text


async def test_kernel_secret_opens_the_credential_endpoints_only(
    browser, server_url, kernel_secret
):
    bearer = {"Authorization": f"Bearer {kernel_secret}"}
    ok = await browser.get(server_url + "api/creds/integrations", headers=bearer)
    assert ok.status_code == 200
    signin = await browser.post(
        server_url + f"api/creds/integrations/{ANALYTICS_ID}/signin", headers=bearer
    )
    assert signin.status_code == 200  # the magic signs in from a kernel: no XSRF for a bearer
    for path in ("api/contents", "api/kernels", "api/sessions", "api/status"):
        resp = await browser.get(server_url + path, headers=bearer)
        assert resp.status_code in (302, 403), path
    started = await browser.post(server_url + "api/kernels", headers=bearer, json={})
    assert started.status_code == 403


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
async def test_kernel_secret_is_refused_through_a_proxy(browser, server_url, kernel_secret, header):
    resp = await browser.get(
        server_url + "api/creds/integrations",
        headers={"Authorization": f"Bearer {kernel_secret}", header: "203.0.113.9"},
    )
    assert resp.status_code == 403


async def test_wrong_bearer_is_refused(browser, server_url, kernel_secret):
    resp = await browser.get(
        server_url + "api/creds/integrations",
        headers={"Authorization": "Bearer nope" + kernel_secret},
    )
    assert resp.status_code == 403


async def test_kernels_started_by_the_server_get_url_and_secret(
    api, jp_fetch, kernel_secret, jp_http_port, jp_base_url
):
    # The environment kernels inherit points at this server's creds API
    assert (
        os.environ["JUPYTER_CREDS_URL"] == f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/creds/"
    )
    assert len(kernel_secret) >= 32
