"""Key rotation, the administrator's way: put the new key first in JUPYTER_CREDS_KEY (old data
still reads, new writes use the new key), run `jupyter creds rotate-key`, then drop the old key."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ANALYTICS_ID, WAREHOUSE_ID
from cryptography.fernet import Fernet

from jupyter_creds.store import StoredTokens, TokenStore, key_id

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
STRANGER = Fernet.generate_key().decode()  # a key nobody configured any more
LOST_ID = "0b9e3c1d-5a7f-4e2b-8c6d-1f0a9b8c7d6e"


def old_tokens(integration_id: str) -> StoredTokens:
    now = time.time()
    return StoredTokens(
        integration_id,
        f"old-access-{integration_id[:8]}",
        refresh_token=f"old-refresh-{integration_id[:8]}",
        expires_at=now + 3600,
        obtained_at=now,
    )


def readable_with(path: Path, key: str) -> set[str]:
    store = TokenStore(path, [key])
    try:
        return {i for i in (ANALYTICS_ID, WAREHOUSE_ID, LOST_ID) if store.get(i) is not None}
    finally:
        store.close()


def rows(path: Path) -> dict[str, tuple[str, str]]:
    """integration id -> (key id in clear, ciphertext), read with plain SQLite."""
    with sqlite3.connect(path) as raw:
        return {
            i: (k, c)
            for i, k, c in raw.execute(
                "SELECT t.integration_id, t.key_id, s.secret FROM tokens t JOIN secrets s "
                "USING (integration_id)"
            )
        }


@pytest.fixture
def old_store(creds_config: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tokens of two integrations under OLD, one under a key that is gone; the server will
    start with JUPYTER_CREDS_KEY="NEW;OLD"."""
    path = Path(creds_config["store_path"])
    store = TokenStore(path, [OLD])
    store.save(old_tokens(ANALYTICS_ID))
    store.save(old_tokens(WAREHOUSE_ID))
    store.close()
    stranger = TokenStore(path, [STRANGER])
    stranger.save(old_tokens(LOST_ID))
    stranger.close()
    monkeypatch.setenv("JUPYTER_CREDS_KEY", f"{NEW};{OLD}")
    return path


async def test_new_key_first_reads_old_tokens_and_encrypts_new_writes(
    old_store, api, sign_in, creds_app
):
    # Given a server whose first key is new: the tokens written under the old one still read
    for integration_id in (ANALYTICS_ID, WAREHOUSE_ID):
        code, creds, _ = await api.credentials(integration_id)
        assert code == 200, creds
        assert creds["access_token"] == old_tokens(integration_id).access_token
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "authenticated"

    # When one of them is written again (the user signs in again)
    await sign_in(ANALYTICS_ID)

    # Then that write used the first key, and the untouched row is still under the old one
    keys = {i: k for i, (k, _) in rows(old_store).items()}
    assert keys[ANALYTICS_ID] == key_id(NEW)
    assert keys[WAREHOUSE_ID] == key_id(OLD)
    assert readable_with(old_store, NEW) == {ANALYTICS_ID}
    assert readable_with(old_store, OLD) == {WAREHOUSE_ID}
    code, creds, _ = await api.credentials(WAREHOUSE_ID)
    assert code == 200


def rotate_key_command(config_dir: Path, keys: str) -> subprocess.CompletedProcess[str]:
    jupyter = shutil.which("jupyter")
    command = [jupyter, "creds"] if jupyter and shutil.which("jupyter-creds") else None
    command = command or [sys.executable, "-m", "jupyter_creds.cli"]
    return subprocess.run(
        [*command, "rotate-key"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir), "JUPYTER_CREDS_KEY": keys},
    )


@pytest.fixture
def rotated_store(old_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`jupyter creds rotate-key` run with the server's configuration, before the server
    restarts with the new key alone."""
    config_dir = tmp_path / "admin-config"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"CredsApp": {"store_path": str(old_store)}})
    )
    before = rows(old_store)
    result = rotate_key_command(config_dir, f"{NEW};{OLD}")
    monkeypatch.setenv("JUPYTER_CREDS_KEY", NEW)
    return before, result


async def test_rotate_key_reencrypts_everything_and_the_new_key_alone_reads_it(
    rotated_store, old_store, api
):
    before, result = rotated_store
    # Then the command re-encrypted every readable row, and said so
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 2 stored integration(s)" in result.stdout
    # and named what it could not read (a key nobody has any more), leaving it as it was
    assert "cannot be decrypted" in result.stderr
    assert LOST_ID in result.stderr
    after = rows(old_store)
    assert after[LOST_ID] == before[LOST_ID]
    for integration_id in (ANALYTICS_ID, WAREHOUSE_ID):
        assert after[integration_id][0] == key_id(NEW)
        assert after[integration_id][1] != before[integration_id][1]
    # the old key reads nothing now, and no old ciphertext is left anywhere in the file
    assert readable_with(old_store, OLD) == set()
    raw = old_store.read_bytes()
    for integration_id in (ANALYTICS_ID, WAREHOUSE_ID):
        assert before[integration_id][1].encode() not in raw

    # And the server, restarted with the new key alone, serves the tokens
    for integration_id in (ANALYTICS_ID, WAREHOUSE_ID):
        code, creds, _ = await api.credentials(integration_id)
        assert code == 200, creds
        assert creds["access_token"] == old_tokens(integration_id).access_token
    print(
        "keys rotated: 1, rows re-encrypted: 2, unreadable rows left as they were: 1, "
        "old ciphertexts left in the file: 0, tokens lost: 0"
    )
