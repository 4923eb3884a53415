"""No secret, token, code, state or verifier in logs, answers or the store file, ever."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ANALYTICS_ID, SENTINEL_SECRET, WAREHOUSE_ID
from cryptography.fernet import Fernet
from signin_driver import approve

from jupyter_creds.store import StoredTokens, TokenStore


async def test_logs_and_answers_hold_no_secret(debug_logs, api, browser, provider, creds_app):
    provider.token_lifetime = 2
    planted: list[str] = [SENTINEL_SECRET, os.environ["JUPYTER_CREDS_TOKEN"]]
    answers: list[str] = []

    # a full sign-in, keeping every code and state the provider handed out
    for integration in (ANALYTICS_ID, WAREHOUSE_ID):
        _, data, _ = await api.call("POST", "integrations", integration, "signin")
        pending = list(creds_app.signin._pending.values())
        planted += [p.code_verifier for p in pending] + [p.nonce for p in pending]
        callback = await approve(browser, data["authorization_url"])
        query = parse_qs(urlsplit(callback).query)
        planted += [query["code"][0], query["state"][0]]
        page = await browser.get(callback)
        assert page.status_code == 200
        answers.append(page.text)
        # the same state and code once more, and a bad one: error paths log too
        answers.append((await browser.get(callback)).text)
    first = creds_app.store.get(ANALYTICS_ID)
    planted += [first.access_token, first.refresh_token]

    # use, expire, refresh, sign out
    _, creds, _ = await api.credentials(ANALYTICS_ID)
    await asyncio.sleep(max(0.0, creds["expires_at"] - time.time()) + 0.1)
    _, creds, _ = await api.credentials(ANALYTICS_ID)
    second = creds_app.store.get(ANALYTICS_ID)
    planted += [second.access_token, second.refresh_token]
    for path in ("integrations", f"integrations/{ANALYTICS_ID}"):
        _, _, raw = await api.call("GET", *path.split("/"))
        answers.append(raw.body.decode())
    assert await api.sign_out(ANALYTICS_ID) == 204
    await creds_app.credentials.drain()

    assert len(debug_logs.lines) > 20  # we did capture the server's logging
    for value in planted:
        assert value
        assert value not in debug_logs.text, "a secret reached the logs"
    for text in answers:
        for value in planted:
            assert value not in text, "a secret reached an answer"
    print(f"log lines checked: {len(debug_logs.lines)}, planted values: {len(planted)}, leaks: 0")


async def test_store_file_is_private_and_encrypted(api, sign_in, creds_app, creds_config):
    await sign_in(ANALYTICS_ID)
    tokens = creds_app.store.get(ANALYTICS_ID)
    db = Path(creds_config["store_path"])
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(creds_config["key_file"]).stat().st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())
    assert tokens.access_token.encode() not in raw
    assert tokens.refresh_token.encode() not in raw


@pytest.fixture
def store_with_other_key(creds_config) -> None:
    """A store written with another key than the server will have."""
    creds_config["encryption_keys"] = [Fernet.generate_key().decode()]
    store = TokenStore(Path(creds_config["store_path"]), [Fernet.generate_key().decode()])
    store.save(
        StoredTokens(
            integration_id=ANALYTICS_ID,
            access_token="at-written-with-another-key",
            refresh_token="rt-written-with-another-key",
            expires_at=time.time() + 600,
            obtained_at=time.time(),
        )
    )
    store.close()


async def test_wrong_key_reads_as_not_signed_in(store_with_other_key, api, debug_logs):
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "not_signed_in")
    assert "cannot be decrypted" in debug_logs.text
    assert "with-another-key" not in debug_logs.text
