"""Refresh behaviour per DESIGN.md: rotation, invalid_grant, no refresh token, no expires_in."""

from __future__ import annotations

import asyncio
import os
import time

from conftest import ANALYTICS_ID

from jupyter_creds.demo import SECRET_ENV


async def wait_for_expiry(api, integration_id=ANALYTICS_ID) -> dict:
    code, creds, _ = await api.credentials(integration_id)
    assert code == 200, creds
    await asyncio.sleep(max(0.0, creds["expires_at"] - time.time()) + 0.1)
    return creds


async def test_rotation_keeps_the_grant_alive(api, sign_in, provider, browser, creds_app):
    provider.token_lifetime = 1.5
    await sign_in(ANALYTICS_ID)
    seen = set()
    for _ in range(3):
        old = await wait_for_expiry(api)
        seen.add(old["access_token"])
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200
    assert provider.requests_count("token", "refresh_token") == 3
    userinfo = await browser.get(
        provider.issuer + "/userinfo", headers={"Authorization": f"Bearer {creds['access_token']}"}
    )
    assert userinfo.status_code == 200


async def test_invalid_grant_means_sign_in_again(api, sign_in, provider, browser, creds_app):
    provider.token_lifetime = 1.5
    await sign_in(ANALYTICS_ID)
    # the provider ends the session (an admin revoked it, say)
    refresh_token = creds_app.store.get(ANALYTICS_ID).refresh_token
    revoked = await browser.post(
        provider.issuer + "/revoke",
        data={"token": refresh_token, "token_type_hint": "refresh_token"},
        auth=("demo-analytics", os.environ[SECRET_ENV]),
    )
    assert revoked.status_code == 200
    await wait_for_expiry(api)

    code, err, _ = await api.credentials(ANALYTICS_ID)

    assert (code, err["reason"]) == (409, "reauth_required")
    assert "sign in again" in err["message"]
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "not_signed_in"
    assert "sign in again" in row["error"]
    # no retry loop: asking again makes no new provider request
    before = provider.requests_count("token", "refresh_token")
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "reauth_required")
    assert provider.requests_count("token", "refresh_token") == before
    # signing in again clears the reason
    await sign_in(ANALYTICS_ID)
    assert (await api.integrations())[ANALYTICS_ID]["error"] is None


async def test_provider_without_refresh_tokens(api, sign_in, provider):
    provider.issue_refresh_tokens = False
    provider.token_lifetime = 1.5
    await sign_in(ANALYTICS_ID)
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "authenticated"
    await wait_for_expiry(api)

    code, err, _ = await api.credentials(ANALYTICS_ID)

    assert code == 409
    assert err["reason"] in ("not_signed_in", "reauth_required")
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "not_signed_in"
    assert "no refresh token" in row["error"]
    assert provider.requests_count("token", "refresh_token") == 0


async def test_provider_without_expires_in(api, sign_in, provider):
    provider.send_expires_in = False
    await sign_in(ANALYTICS_ID)
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200
    assert creds["expires_at"] is None
    row = (await api.integrations())[ANALYTICS_ID]
    assert (row["status"], row["expires_at"]) == ("authenticated", None)
    assert provider.requests_count("token", "refresh_token") == 0


async def test_leeway_is_never_more_than_half_the_lifetime(api, sign_in, provider):
    # default leeway 60 s; tokens of 4 s must not be refreshed on every call
    provider.token_lifetime = 4
    await sign_in(ANALYTICS_ID)
    for _ in range(5):
        code, _, _ = await api.credentials(ANALYTICS_ID)
        assert code == 200
    assert provider.requests_count("token", "refresh_token") == 0
