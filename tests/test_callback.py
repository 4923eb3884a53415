"""The callback page: authorized by its state alone, checks before any token request, escapes."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from conftest import ANALYTICS_ID
from signin_driver import approve

import jupyter_creds.signin


def with_params(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def consented(api, browser):
    """Start a sign-in and consent at the provider; return the callback URL, not yet visited."""

    async def run() -> str:
        code, data, _ = await api.call("POST", "integrations", ANALYTICS_ID, "signin")
        assert code == 200, data
        return await approve(browser, data["authorization_url"])

    return run


async def assert_nothing_stored(api, creds_app):
    assert creds_app.store.get(ANALYTICS_ID) is None
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"


async def test_the_callback_url_has_code_state_and_iss(consented, provider):
    callback = await consented()
    query = parse_qs(urlsplit(callback).query)
    assert set(query) >= {"code", "state", "iss"}
    assert query["iss"] == [provider.issuer]
    assert len(query["state"][0]) >= 22  # >= 128 bits in URL-safe base64


async def test_unknown_state_is_refused_without_a_token_request(
    consented, browser, provider, api, creds_app
):
    callback = await consented()
    resp = await browser.get(with_params(callback, state="not-a-state-we-issued"))
    assert resp.status_code == 400
    assert "not valid any more" in resp.text
    assert provider.requests_count("token") == 0
    await assert_nothing_stored(api, creds_app)


async def test_reused_state_is_refused(consented, browser, provider, api, creds_app):
    callback = await consented()
    assert (await browser.get(callback)).status_code == 200
    assert await api.sign_out(ANALYTICS_ID) == 204

    again = await browser.get(callback)

    assert again.status_code == 400
    assert provider.requests_count("token", "authorization_code") == 1
    assert creds_app.store.get(ANALYTICS_ID) is None


async def test_expired_state_is_refused(consented, browser, provider, monkeypatch, api, creds_app):
    monkeypatch.setattr(jupyter_creds.signin, "STATE_LIFETIME", 0.3)
    callback = await consented()
    await asyncio.sleep(0.5)
    resp = await browser.get(callback)
    assert resp.status_code == 400
    assert provider.requests_count("token") == 0
    await assert_nothing_stored(api, creds_app)


@pytest.mark.parametrize("iss", ["https://evil.example.com", None])
async def test_iss_mismatch_or_missing_is_refused_before_the_token_request(
    consented, browser, provider, api, creds_app, iss
):
    # the provider advertises authorization_response_iss_parameter_supported: `iss` is required
    callback = await consented()
    resp = await browser.get(with_params(callback, iss=iss))
    assert resp.status_code == 400
    assert "issuer" in resp.text or "iss" in resp.text
    assert provider.requests_count("token") == 0
    await assert_nothing_stored(api, creds_app)


async def test_provider_error_text_is_escaped(api, browser, creds_app):
    _, data, _ = await api.call("POST", "integrations", ANALYTICS_ID, "signin")
    state = parse_qs(urlsplit(data["authorization_url"]).query)["state"][0]
    callback = (
        creds_app.redirect_uri()
        + "?"
        + urlencode(
            {
                "state": state,
                "error": "access_denied<script>alert(1)</script>",
                "error_description": "<img src=x onerror=alert(2)>",
            }
        )
    )
    resp = await browser.get(callback)
    assert resp.status_code == 400
    assert "<script>alert(1)" not in resp.text
    assert "<img src=x" not in resp.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_user_denies_consent(api, browser, creds_app):
    _, data, _ = await api.call("POST", "integrations", ANALYTICS_ID, "signin")
    callback = await approve(browser, data["authorization_url"], decision="deny")
    resp = await browser.get(callback)
    assert resp.status_code == 400
    assert "access_denied" in resp.text
    assert creds_app.store.get(ANALYTICS_ID) is None


async def test_callback_never_bounces_to_login(api, browser, creds_app):
    # no Jupyter auth at all: the page answers itself (it must not redirect with the code)
    resp = await browser.get(creds_app.redirect_uri() + "?code=abc&state=xyz")
    assert resp.status_code == 400
    assert "location" not in resp.headers


async def test_tampered_id_token_is_rejected_and_nothing_stored(
    consented, browser, provider, api, creds_app
):
    callback = await consented()
    provider.inject_fault("token", "tampered_id_token")
    resp = await browser.get(callback)
    assert resp.status_code == 502
    assert "signature" in resp.text
    assert provider.requests_count("token", "authorization_code") == 1
    await assert_nothing_stored(api, creds_app)
