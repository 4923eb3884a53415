"""Refresh-token rotation under concurrency: one refresh at a time, in one server and across two
server processes sharing a store; a lost answer and invalid_grant end in "sign in again", never in
the reuse of a rotated refresh token (the embedded provider revokes the whole grant on reuse)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path

import httpx2
import pytest
from conftest import ANALYTICS_ID
from cryptography.fernet import Fernet
from server_process import ServerProcess
from signin_driver import approve

from jupyter_creds.demo import SECRET_ENV, demo_clients, integrations_toml
from jupyter_creds.provider import EmbeddedProvider
from jupyter_creds.store import TokenStore

ROUNDS = 5
CALLERS = 50


def expire(store: TokenStore, integration_id: str = ANALYTICS_ID) -> None:
    """Make the stored access token expired, as if its lifetime had passed (no waiting)."""
    tokens = store.get(integration_id)
    assert tokens is not None
    now = time.time()
    expired = dataclasses.replace(tokens, expires_at=now - 1, obtained_at=now - 121)
    assert store.save(expired, if_generation=tokens.generation) is not None


async def introspect(provider: EmbeddedProvider, token: str) -> dict:
    async with httpx2.AsyncClient(timeout=10, trust_env=False) as http:
        resp = await http.post(
            provider.issuer + "/introspect",
            data={"token": token},
            auth=("demo-analytics", os.environ[SECRET_ENV]),
        )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def userinfo_status(provider: EmbeddedProvider, access_token: str) -> int:
    async with httpx2.AsyncClient(timeout=10, trust_env=False) as http:
        resp = await http.get(
            provider.issuer + "/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )
    return resp.status_code


def revoked_grants(provider: EmbeddedProvider) -> int:
    """Grants the provider revoked. Reusing a rotated refresh token revokes its grant, so this
    stays 0 exactly when no refresh token was ever used twice. (Reads the provider's state.)"""
    with provider._state.lock:
        return sum(grant.revoked for grant in provider._state._grants.values())


async def assert_grant_alive(provider: EmbeddedProvider, store: TokenStore) -> None:
    tokens = store.get(ANALYTICS_ID)
    assert tokens is not None, "tokens lost"
    assert (await introspect(provider, tokens.refresh_token))["active"] is True
    assert await userinfo_status(provider, tokens.access_token) == 200
    assert revoked_grants(provider) == 0, "a rotated refresh token was reused"


# -- one server ----------------------------------------------------------------------------------


async def test_fifty_callers_at_each_expiry_share_one_refresh_and_the_grant_survives(
    api, sign_in, provider, creds_app
):
    # Given a signed-in user whose provider rotates refresh tokens
    await sign_in(ANALYTICS_ID)
    answers = 0
    for round_ in range(1, ROUNDS + 1):
        # When the token has expired and 50 callers ask at once
        expire(creds_app.store)
        results = await asyncio.gather(*(api.credentials(ANALYTICS_ID) for _ in range(CALLERS)))
        # Then all get the same new token from exactly one refresh
        assert [code for code, _, _ in results] == [200] * CALLERS, results[0][1]
        assert len({data["access_token"] for _, data, _ in results}) == 1
        assert provider.requests_count("token", "refresh_token") == round_
        answers += len(results)
    # And the grant is alive: no refresh token was ever presented twice
    await assert_grant_alive(provider, creds_app.store)
    print(
        f"rounds: {ROUNDS}, callers per round: {CALLERS}, answers: {answers}, "
        f"refreshes: {provider.requests_count('token', 'refresh_token')}, reuses: 0, "
        "tokens lost: 0"
    )


async def test_lost_answer_after_rotation_asks_to_sign_in_again_without_a_retry(
    api, sign_in, provider, creds_app
):
    # Given a signed-in user with an expired token
    await sign_in(ANALYTICS_ID)
    expire(creds_app.store)
    # When the provider rotates the refresh token but its answer never arrives
    provider.inject_fault("token", "lost_answer")
    code, err, _ = await api.credentials(ANALYTICS_ID)

    # Then the user is told to sign in again
    assert (code, err["reason"]) == (409, "reauth_required"), err
    assert "sign in again" in err["message"]
    assert "connection to the provider broke" in err["message"]
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "not_signed_in"
    assert "sign in again" in row["error"]
    # and the old refresh token was not sent again, then or later
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "reauth_required")
    assert provider.requests_count("token", "refresh_token") == 1
    assert revoked_grants(provider) == 0, "the rotated refresh token was reused"
    assert creds_app.store.get(ANALYTICS_ID) is None

    # And signing in again works
    await sign_in(ANALYTICS_ID)
    assert (await api.credentials(ANALYTICS_ID))[0] == 200
    print("faults injected: 1 (lost_answer), refresh requests: 1, blind retries: 0")


async def test_invalid_grant_means_sign_in_again_with_the_reason(
    api, sign_in, provider, creds_app, browser
):
    # Given a signed-in user whose grant the provider then ends (an admin revoked it)
    await sign_in(ANALYTICS_ID)
    revoked = await browser.post(
        provider.issuer + "/revoke",
        data={"token": creds_app.store.get(ANALYTICS_ID).refresh_token},
        auth=("demo-analytics", os.environ[SECRET_ENV]),
    )
    assert revoked.status_code == 200
    expire(creds_app.store)

    # When the token needs a refresh
    code, err, _ = await api.credentials(ANALYTICS_ID)

    # Then: sign in again, with the provider's reason, kept in the store for every reader
    assert (code, err["reason"]) == (409, "reauth_required")
    assert "the provider ended the session" in err["message"]
    summary = creds_app.store.summaries()[ANALYTICS_ID]
    assert not summary.signed_in
    assert "sign in again" in summary.reason
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "not_signed_in"
    assert row["error"] == summary.reason
    assert provider.requests_count("token", "refresh_token") == 1


async def test_invalid_grant_rereads_the_store_and_keeps_a_newer_sign_in(
    api, sign_in, provider, creds_app, browser
):
    # Given a refresh in flight with a refresh token whose grant then ends ...
    await sign_in(ANALYTICS_ID)
    old = creds_app.store.get(ANALYTICS_ID)
    expire(creds_app.store)
    provider.inject_fault("token", "slow:2")
    in_flight = asyncio.ensure_future(api.credentials(ANALYTICS_ID))
    for _ in range(200):
        if provider.requests_count("token", "refresh_token"):
            break
        await asyncio.sleep(0.01)
    assert provider.requests_count("token", "refresh_token") == 1
    revoked = await browser.post(
        provider.issuer + "/revoke",
        data={"token": old.refresh_token},
        auth=("demo-analytics", os.environ[SECRET_ENV]),
    )
    assert revoked.status_code == 200
    # ... while the user signs in again (here, or in another server sharing the store)
    await sign_in(ANALYTICS_ID)
    newer = creds_app.store.get(ANALYTICS_ID)
    assert not in_flight.done()

    # When the provider answers the old refresh with invalid_grant
    code, creds, _ = await asyncio.wait_for(in_flight, 10)

    # Then the store is read again: the newer sign-in stays, and the caller gets its token
    assert creds_app.store.get(ANALYTICS_ID) == newer
    assert (code, creds.get("access_token")) == (200, newer.access_token), creds
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "authenticated"


# -- two server processes sharing one store ------------------------------------------------------


async def sign_in_through(server: ServerProcess, http: httpx2.AsyncClient) -> None:
    resp = await http.post(
        server.url + f"api/creds/integrations/{ANALYTICS_ID}/signin", headers=server.headers
    )
    assert resp.status_code == 200, resp.text
    callback = await approve(http, resp.json()["authorization_url"])
    page = await http.get(callback)
    assert page.status_code == 200, page.text


async def hammer(servers: list[ServerProcess], callers_each: int) -> list[httpx2.Response]:
    async with httpx2.AsyncClient(
        timeout=30, trust_env=False, limits=httpx2.Limits(max_connections=200)
    ) as http:
        calls = [
            http.get(
                s.url + "api/creds/credentials",
                params={"audience": ANALYTICS_ID},
                headers=s.headers,
            )
            for _ in range(callers_each)
            for s in servers
        ]
        return await asyncio.gather(*calls)


@pytest.fixture
def shared_store(tmp_path: Path):
    """A provider in this process, and two servers with the same store, key and integrations."""
    key = Fernet.generate_key().decode()
    with EmbeddedProvider(clients=demo_clients("/"), token_lifetime=120).start() as provider:
        integrations = tmp_path / "integrations.toml"
        integrations.write_text(integrations_toml(provider.issuer), encoding="utf-8")
        creds = {
            "integrations_file": str(integrations),
            "store_path": str(tmp_path / "shared" / "tokens.db"),
            "http_timeout": 5.0,
        }
        env = {"JUPYTER_CREDS_KEY": key}
        servers = [ServerProcess(tmp_path / n, creds=creds, env=env) for n in ("a", "b")]
        try:
            for server in servers:
                server.start()
            for server in servers:
                server.wait_ready()
            store = TokenStore(Path(creds["store_path"]), [key])
            yield provider, servers, store
            store.close()
        finally:
            for server in servers:
                server.stop()


def test_two_server_processes_never_reuse_a_refresh_token(shared_store):
    provider, servers, store = shared_store
    callers_each = CALLERS // 2

    async def run() -> int:
        async with httpx2.AsyncClient(timeout=10, trust_env=False) as http:
            await sign_in_through(servers[0], http)
        answers = 0
        for round_ in range(1, ROUNDS + 1):
            # When the token has expired and both servers are asked at once
            expire(store)
            results = await hammer(servers, callers_each)
            # Then every caller gets the same new token, from one refresh in one of them
            problems = [r.text for r in results if r.status_code != 200]
            assert not problems, problems[:3]
            assert len({r.json()["access_token"] for r in results}) == 1
            assert provider.requests_count("token", "refresh_token") == round_
            answers += len(results)
        # And the grant is alive: no refresh token was presented twice
        await assert_grant_alive(provider, store)
        return answers

    answers = asyncio.run(run())
    print(
        f"server processes: 2, rounds: {ROUNDS}, callers per round: {callers_each * 2}, "
        f"answers: {answers}, refreshes: {provider.requests_count('token', 'refresh_token')}, "
        "reuses: 0, tokens lost: 0"
    )
