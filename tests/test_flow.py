"""The whole user journey against a real server and the embedded provider over loopback HTTP."""

from __future__ import annotations

import asyncio
import os
import time

import httpx2
from conftest import ANALYTICS_ID, BROKEN_ID, WAREHOUSE_ID

from jupyter_creds.demo import SECRET_ENV


async def introspect(browser: httpx2.AsyncClient, provider, token: str) -> dict:
    resp = await browser.post(
        provider.issuer + "/introspect",
        data={"token": token},
        auth=("demo-analytics", os.environ[SECRET_ENV]),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def userinfo(browser: httpx2.AsyncClient, provider, token: str) -> httpx2.Response:
    return await browser.get(
        provider.issuer + "/userinfo", headers={"Authorization": f"Bearer {token}"}
    )


async def test_sign_in_use_refresh_and_sign_out(api, sign_in, provider, creds_app, browser):
    # Given a fresh server: three integrations, nobody signed in, tokens that live 3 seconds
    provider.token_lifetime = 3
    rows = await api.integrations()
    assert set(rows) == {ANALYTICS_ID, WAREHOUSE_ID, BROKEN_ID}
    assert rows[ANALYTICS_ID]["status"] == "not_signed_in"
    assert rows[BROKEN_ID]["status"] == "config_error"

    # When the user signs in through the provider's login and consent pages
    page = await sign_in(ANALYTICS_ID)

    # Then the callback page says so, and the integration is authenticated with the account
    assert page.status_code == 200, page.text
    assert "Signed in to Demo Analytics" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "authenticated"
    assert row["account"] == "demo@example.com"
    assert row["expires_at"] > time.time()

    # And `credentials` gives a token the provider's userinfo endpoint accepts
    code, creds, resp = await api.credentials(ANALYTICS_ID)
    assert code == 200, creds
    assert resp.headers["Cache-Control"] == "no-store"
    assert set(creds) == {"access_token", "token_type", "expires_at", "scope", "integration_id"}
    first = creds["access_token"]
    assert (await userinfo(browser, provider, first)).json()["sub"] == "demo-user"

    # When the token expires, the next call refreshes it (one refresh request)
    await asyncio.sleep(max(0.0, creds["expires_at"] - time.time()) + 0.2)
    assert (await userinfo(browser, provider, first)).status_code == 401
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200, creds
    assert creds["access_token"] != first
    assert provider.requests_count("token", "refresh_token") == 1
    assert (await userinfo(browser, provider, creds["access_token"])).status_code == 200

    # When the user signs out
    refresh_token = creds_app.store.get(ANALYTICS_ID).refresh_token
    assert (await introspect(browser, provider, refresh_token))["active"] is True
    assert await api.sign_out(ANALYTICS_ID) == 204
    await creds_app.credentials.drain()

    # Then the status is not_signed_in, credentials says so, and the provider revoked the grant
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "not_signed_in")
    assert (await introspect(browser, provider, refresh_token))["active"] is False
    assert provider.requests_count("revoke") == 1
    # Sign-out is idempotent
    assert await api.sign_out(ANALYTICS_ID) == 204


async def test_public_pkce_client_signs_in(api, sign_in, provider, browser):
    page = await sign_in(WAREHOUSE_ID)
    assert page.status_code == 200, page.text
    code, creds, _ = await api.credentials(WAREHOUSE_ID)
    assert code == 200
    assert (await userinfo(browser, provider, creds["access_token"])).status_code == 200


async def test_fifty_concurrent_callers_at_expiry_make_one_refresh(api, sign_in, provider):
    provider.token_lifetime = 2
    await sign_in(ANALYTICS_ID)
    _, creds, _ = await api.credentials(ANALYTICS_ID)
    await asyncio.sleep(max(0.0, creds["expires_at"] - time.time()) + 0.1)

    answers = await asyncio.gather(*(api.credentials(ANALYTICS_ID) for _ in range(50)))

    assert {code for code, _, _ in answers} == {200}
    assert len({data["access_token"] for _, data, _ in answers}) == 1
    assert provider.requests_count("token", "refresh_token") == 1
