"""Sign-out racing a refresh that is still waiting for the provider, and sign-out while the
provider's revocation endpoint is down: the local tokens are gone at once and never come back."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from conftest import ANALYTICS_ID

from jupyter_creds.provider import EmbeddedProvider
from jupyter_creds.store import TokenStore

SLOW = 1.5  # seconds the provider holds the refresh answer back
HTTP_TIMEOUT = 1.0


@pytest.fixture
def quick_timeout(creds_config: dict) -> None:
    creds_config["http_timeout"] = HTTP_TIMEOUT


def expire(store: TokenStore) -> None:
    tokens = store.get(ANALYTICS_ID)
    now = time.time()
    expired = dataclasses.replace(tokens, expires_at=now - 1, obtained_at=now - 121)
    assert store.save(expired, if_generation=tokens.generation) is not None


def live_refresh_tokens(provider: EmbeddedProvider) -> int:
    """Refresh tokens the provider would still accept (read from its state)."""
    now = time.time()
    with provider._state.lock:
        return sum(r.refresh_active(now) for r in provider._state._by_refresh.values())


async def refresh_in_flight(api, provider, creds_app) -> asyncio.Future:
    """Start a refresh that the provider answers only after SLOW seconds; return its call."""
    expire(creds_app.store)
    provider.inject_fault("token", f"slow:{SLOW}")
    call = asyncio.ensure_future(api.credentials(ANALYTICS_ID))
    for _ in range(300):
        if provider.requests_count("token", "refresh_token"):
            return call
        await asyncio.sleep(0.01)
    raise AssertionError("the refresh never reached the provider")


async def timed_sign_out(api) -> float:
    started = time.monotonic()
    assert await api.sign_out(ANALYTICS_ID) == 204
    return time.monotonic() - started


@pytest.mark.parametrize(
    "revocation", ["reaches the provider first", "fails"], ids=["revoked", "revoke-fails"]
)
async def test_sign_out_during_a_refresh_keeps_the_tokens_out(
    api, sign_in, provider, creds_app, revocation
):
    # Given a refresh waiting for the provider's answer
    await sign_in(ANALYTICS_ID)
    if revocation == "fails":
        provider.inject_fault("revoke", "500")
    call = await refresh_in_flight(api, provider, creds_app)

    # When the user signs out meanwhile
    took = await timed_sign_out(api)
    assert not call.done()
    code, err, _ = await asyncio.wait_for(call, 10)
    await creds_app.credentials.drain()

    # Then the sign-out was immediate, and the refresh's answer did not bring tokens back
    assert took < SLOW / 2
    assert (code, err["reason"]) == (409, "not_signed_in"), err
    assert creds_app.store.get(ANALYTICS_ID) is None
    row = (await api.integrations())[ANALYTICS_ID]
    assert (row["status"], row["error"]) == ("not_signed_in", None)
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "not_signed_in")
    # and nothing the provider issued stays usable: a refresh token rotated meanwhile is revoked
    assert live_refresh_tokens(provider) == 0
    revocations = provider.requests_count("revoke")
    assert revocations == (1 if revocation != "fails" else 2)
    print(
        f"sign-out during refresh ({revocation}): sign-out took {took * 1000:.0f} ms, "
        f"revocation requests: {revocations}, live refresh tokens: 0, tokens back: 0"
    )


@pytest.mark.parametrize("revocation", ["ok", "fails"])
async def test_sign_out_and_new_sign_in_during_a_refresh_keep_the_new_sign_in(
    api, sign_in, provider, creds_app, revocation
):
    # Given a refresh waiting for the provider's answer
    await sign_in(ANALYTICS_ID)
    if revocation == "fails":
        provider.inject_fault("revoke", "500")
    call = await refresh_in_flight(api, provider, creds_app)

    # When the user signs out and in again meanwhile
    await timed_sign_out(api)
    await sign_in(ANALYTICS_ID)
    newer = creds_app.store.get(ANALYTICS_ID)
    assert not call.done()
    code, creds, _ = await asyncio.wait_for(call, 10)
    await creds_app.credentials.drain()

    # Then the new sign-in is what the store keeps, and what the waiting caller got
    assert creds_app.store.get(ANALYTICS_ID) == newer
    assert (code, creds.get("access_token")) == (200, newer.access_token), creds
    row = (await api.integrations())[ANALYTICS_ID]
    assert (row["status"], row["error"]) == ("authenticated", None)


@pytest.mark.parametrize("fault", ["500", "stall", "drop", "refused"])
async def test_sign_out_with_the_revocation_endpoint_down(
    quick_timeout, api, sign_in, provider, creds_app, debug_logs, fault
):
    # Given a signed-in user, and a revocation endpoint that fails
    await sign_in(ANALYTICS_ID)
    if fault == "refused":
        provider.stop()
    else:
        provider.inject_fault("revoke", fault)

    # When the user signs out
    took = await timed_sign_out(api)
    revoking = bool(creds_app.credentials._background)

    # Then the local tokens are gone at once, whatever the provider does
    # (not waiting for the provider: well under the provider timeout it would otherwise wait)
    assert took < HTTP_TIMEOUT
    if fault == "stall":
        assert revoking, "the sign-out waited for the stalled revocation"
    assert creds_app.store.get(ANALYTICS_ID) is None
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "not_signed_in")
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"
    # and the failed revocation is logged, within the timeout, without retries
    started = time.monotonic()
    await asyncio.wait_for(creds_app.credentials.drain(), HTTP_TIMEOUT + 5)
    assert time.monotonic() - started < HTTP_TIMEOUT + 1
    assert "revocation" in debug_logs.text
    assert "local tokens are deleted anyway" in debug_logs.text
    if fault != "refused":
        assert provider.requests_count("revoke") == 1
    print(f"revocation {fault}: sign-out took {took * 1000:.0f} ms, local tokens left: 0")
