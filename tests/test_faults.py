"""Provider faults at the network edge (the embedded provider's injected faults, and the provider
gone): a still-valid token keeps being served, an expired one gives 502 provider_error naming the
problem, retries are bounded and only for retryable failures, stored tokens stay as they were, and
the next call after recovery refreshes. A stalled provider fails within ``http_timeout`` while the
server keeps answering everything else."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx2
import pytest
from conftest import ANALYTICS_ID, WAREHOUSE_ID

from jupyter_creds.store import StoredTokens, TokenStore

RETRIES = 2  # OAuthClient's default: one try and two retries
HTTP_TIMEOUT = 1.0


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str  # an injected fault, or "refused": the provider is not listening at all
    retryable: bool
    message: str  # what the error must say about the provider's problem


FAULTS = [
    Fault("500", True, "answered HTTP 500"),
    Fault("503", True, "answered HTTP 503"),
    Fault("429", True, "answered HTTP 429"),
    Fault("html", False, "did not answer JSON"),
    Fault("no_access_token", False, "has no access_token"),
    Fault("stall", False, f"did not answer within {HTTP_TIMEOUT:g} s"),
    Fault("refused", True, "can't connect to the provider"),
]


@pytest.fixture
def quick_timeout(creds_config: dict) -> None:
    creds_config["http_timeout"] = HTTP_TIMEOUT


def set_expiry(store: TokenStore, *, valid_for: float) -> StoredTokens:
    """Rewrite the stored expiry: ``valid_for`` > 0 puts the token inside the refresh leeway (it
    is refreshed, but still valid); <= 0 makes it expired. Saves waiting for real lifetimes."""
    tokens = store.get(ANALYTICS_ID)
    now = time.time()
    changed = dataclasses.replace(tokens, expires_at=now + valid_for, obtained_at=now - 600)
    saved = store.save(changed, if_generation=tokens.generation)
    assert saved is not None
    return saved


def break_provider(provider, fault: Fault, count: int) -> None:
    if fault.kind == "refused":
        provider.stop()
    else:
        provider.inject_fault("token", fault.kind, count)


def attempts_for(fault: Fault) -> int:
    return 1 + RETRIES if fault.retryable else 1


@pytest.mark.parametrize("still_valid", [True, False], ids=["still-valid", "expired"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.kind for f in FAULTS])
async def test_provider_fault_on_refresh(
    quick_timeout, api, sign_in, provider, creds_app, fault: Fault, still_valid: bool
):
    # Given a signed-in user whose token must be refreshed now
    await sign_in(ANALYTICS_ID)
    before = set_expiry(creds_app.store, valid_for=30 if still_valid else -1)
    # When every attempt of the refresh meets the fault
    attempts = attempts_for(fault)
    break_provider(provider, fault, attempts)
    started = time.monotonic()
    code, data, _ = await api.credentials(ANALYTICS_ID)
    took = time.monotonic() - started

    # Then a still-valid token is served, an expired one is a 502 naming the problem
    if still_valid:
        assert code == 200, data
        assert data["access_token"] == before.access_token
    else:
        assert (code, data["reason"]) == (502, "provider_error"), data
        assert fault.message in data["message"], data["message"]
        assert "Demo Analytics" in data["message"]
    # with retries for retryable failures only, bounded, with back-off
    seen = 0 if fault.kind == "refused" else provider.requests_count("token", "refresh_token")
    assert seen == (0 if fault.kind == "refused" else attempts)
    assert took < attempts * HTTP_TIMEOUT + 2 * RETRIES + 2
    if fault.kind == "stall":
        assert took >= HTTP_TIMEOUT * 0.9
    # and the stored tokens are exactly as they were
    assert creds_app.store.get(ANALYTICS_ID) == before
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "authenticated"

    # When the provider is back, the next call refreshes
    if fault.kind == "refused":
        provider.start()
    refreshes = provider.requests_count("token", "refresh_token")
    code, data, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200, data
    assert data["access_token"] != before.access_token
    assert provider.requests_count("token", "refresh_token") == refreshes + 1
    print(
        f"fault {fault.kind} ({'still valid' if still_valid else 'expired'}): "
        f"faults injected: {attempts}, provider requests: {seen}, "
        f"answer: {'the valid token' if still_valid else '502 provider_error'} in {took:.2f} s, "
        "tokens lost: 0, recovered: yes"
    )


@pytest.mark.parametrize("kind", ["500", "503", "429"])
async def test_a_transient_failure_is_retried_within_the_same_call(
    api, sign_in, provider, creds_app, kind
):
    await sign_in(ANALYTICS_ID)
    before = set_expiry(creds_app.store, valid_for=-1)
    provider.inject_fault("token", kind, RETRIES)  # the last attempt gets through

    code, data, _ = await api.credentials(ANALYTICS_ID)

    assert code == 200, data
    assert data["access_token"] != before.access_token
    assert provider.requests_count("token", "refresh_token") == RETRIES + 1
    assert creds_app.store.get(ANALYTICS_ID).access_token == data["access_token"]
    print(f"fault {kind}: faults injected: {RETRIES}, retried: {RETRIES}, tokens lost: 0")


async def test_a_stalled_provider_fails_in_time_while_the_server_keeps_answering(
    quick_timeout, api, sign_in, provider, creds_app, jp_fetch
):
    # Given two signed-in integrations, one of which needs a refresh from a stalled provider
    await sign_in(ANALYTICS_ID)
    await sign_in(WAREHOUSE_ID)
    set_expiry(creds_app.store, valid_for=-1)
    provider.inject_fault("token", "stall")

    # When that refresh hangs
    started = time.monotonic()
    stalled = asyncio.ensure_future(api.credentials(ANALYTICS_ID))
    await asyncio.sleep(0.1)
    # Then everything else is answered at once meanwhile
    latencies = []
    while not stalled.done() and len(latencies) < 200:
        t0 = time.monotonic()
        status = await jp_fetch("api", "status")
        listing = await api.integrations()
        code, other, _ = await api.credentials(WAREHOUSE_ID)
        latencies.append(time.monotonic() - t0)
        assert (status.code, code) == (200, 200), other
        assert listing[ANALYTICS_ID]["status"] == "authenticated"
    code, data, _ = await asyncio.wait_for(stalled, 10)
    took = time.monotonic() - started
    # and the stalled refresh fails within the configured timeout (no retry after a timeout)
    assert (code, data["reason"]) == (502, "provider_error")
    assert f"did not answer within {HTTP_TIMEOUT:g} s" in data["message"]
    assert HTTP_TIMEOUT * 0.9 <= took < HTTP_TIMEOUT + 1.5
    assert provider.requests_count("token", "refresh_token") == 1
    assert len(latencies) >= 5
    # (a request held up by the stalled refresh would have taken about the whole timeout)
    assert max(latencies) < HTTP_TIMEOUT * 0.8, latencies
    print(
        f"stalled refresh failed after {took:.2f} s (timeout {HTTP_TIMEOUT:g} s); "
        f"other requests answered meanwhile: {len(latencies) * 3}, "
        f"slowest round: {max(latencies) * 1000:.0f} ms, tokens lost: 0"
    )


async def test_retry_after_longer_than_the_cap_is_not_waited_for(
    api, sign_in, provider, creds_app, monkeypatch
):
    """A provider that says "come back in an hour" is not retried within this request."""
    await sign_in(ANALYTICS_ID)
    before = set_expiry(creds_app.store, valid_for=-1)
    original = httpx2.Response.__init__

    def long_retry_after(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.status_code == 429:
            self.headers["Retry-After"] = "3600"

    monkeypatch.setattr(httpx2.Response, "__init__", long_retry_after)
    provider.inject_fault("token", "429", 1 + RETRIES)
    started = time.monotonic()
    code, data, _ = await api.credentials(ANALYTICS_ID)
    assert (code, data["reason"]) == (502, "provider_error")
    assert "HTTP 429" in data["message"]
    assert time.monotonic() - started < 1.0
    assert provider.requests_count("token", "refresh_token") == 1
    assert creds_app.store.get(ANALYTICS_ID) == before
