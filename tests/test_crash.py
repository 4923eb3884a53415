"""Crash safety: SIGKILL mid-write (200 times), a full disk under a real server, and a damaged
store file found at start-up (set aside, the server starts, the user signs in again) or while the
server runs (a clear error, never a traceback)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import sys
import time
from pathlib import Path

import httpx2
import pytest
from conftest import ANALYTICS_ID
from cryptography.fernet import Fernet
from server_process import ServerProcess
from signin_driver import approve
from test_store import kill_writer_repeatedly

from jupyter_creds.demo import demo_clients, integrations_toml
from jupyter_creds.provider import EmbeddedProvider
from jupyter_creds.store import StoredTokens, TokenStore

KILLS = 200
# Any write transaction needs a rollback journal of more than one page (4096 bytes): under this
# limit every save fails, as on a full disk, while reading and the server's small files work.
FILE_SIZE_LIMIT = 4096
# Starts the server with RLIMIT_FSIZE set (SIGXFSZ stays ignored, as Python sets it, so writes
# fail with EFBIG instead of killing the process).
_LIMITED_SERVER = f"""
import os, resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, ({FILE_SIZE_LIMIT}, resource.RLIM_INFINITY))
os.execv(sys.executable, [sys.executable, "-m", "jupyter_server"])
"""


def previous_tokens() -> StoredTokens:
    now = time.time()
    return StoredTokens(
        ANALYTICS_ID,
        "previous-access-token",
        refresh_token="previous-refresh-token",
        expires_at=now + 3600,
        obtained_at=now,
        account="demo@example.com",
    )


def opened(path: Path, key: str) -> contextlib.closing[TokenStore]:
    return contextlib.closing(TokenStore(path, [key]))


def integrity(store: TokenStore) -> list:
    return store._conn.execute("PRAGMA integrity_check").fetchall()  # type: ignore[union-attr]


# -- SIGKILL -------------------------------------------------------------------------------------


def test_two_hundred_sigkills_during_writes_leave_old_or_new_tokens(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    path = tmp_path / "creds" / "tokens.db"
    seed = random.randrange(1 << 30)
    started = time.monotonic()
    # (each kill is followed by opening the store and checking old-or-new, never torn)
    report = kill_writer_repeatedly(path, key, KILLS, seed)
    with opened(path, key) as store:
        assert integrity(store) == [("ok",)]
        last = store.get("crash")
    assert report.kills == KILLS
    assert last is not None
    assert last.access_token == f"at-{report.last}"
    assert report.changed >= KILLS // 10  # the writer did write between kills
    print(
        f"kills survived: {report.kills} (seed {seed}), tokens lost: 0, torn pairs: 0, "
        f"new value after {report.changed} kills, old value after {report.unchanged}, "
        f"saves completed: {report.last}, in {time.monotonic() - started:.1f} s"
    )


# -- a full disk under a running server ----------------------------------------------------------


def test_full_disk_makes_a_sign_in_fail_clearly_and_keeps_the_previous_tokens(tmp_path: Path):
    key = Fernet.generate_key().decode()
    store_path = tmp_path / "state" / "tokens.db"
    with opened(store_path, key) as store:
        store.save(previous_tokens())
    with EmbeddedProvider(clients=demo_clients("/")).start() as provider:
        integrations = tmp_path / "integrations.toml"
        integrations.write_text(integrations_toml(provider.issuer), encoding="utf-8")
        server = ServerProcess(
            tmp_path / "server",
            creds={"integrations_file": str(integrations), "store_path": str(store_path)},
            env={"JUPYTER_CREDS_KEY": key},
            command=[sys.executable, "-c", _LIMITED_SERVER],
        )
        with server:
            server.wait_ready()

            async def run() -> tuple[httpx2.Response, httpx2.Response]:
                async with httpx2.AsyncClient(timeout=10, trust_env=False) as http:
                    # When the user signs in again on a server that can't write to its disk
                    start = await http.post(
                        server.url + f"api/creds/integrations/{ANALYTICS_ID}/signin",
                        headers=server.headers,
                    )
                    assert start.status_code == 200, start.text
                    page = await http.get(await approve(http, start.json()["authorization_url"]))
                    creds = await http.get(
                        server.url + "api/creds/credentials",
                        params={"audience": ANALYTICS_ID},
                        headers=server.headers,
                    )
                    return page, creds

            page, creds = asyncio.run(run())

    # Then the sign-in page says what went wrong, in words about the disk, and no token text
    assert page.status_code == 500, page.text
    assert "could not save tokens: the disk refused the write" in page.text
    assert "the previous tokens are unchanged" in page.text
    # and the previous tokens are intact, for that server and in the file
    assert creds.status_code == 200, creds.text
    assert creds.json()["access_token"] == "previous-access-token"
    with opened(store_path, key) as store:
        kept = store.get(ANALYTICS_ID)
        assert kept is not None
        assert (kept.access_token, kept.refresh_token, kept.generation) == (
            "previous-access-token",
            "previous-refresh-token",
            1,
        )
        assert integrity(store) == [("ok",)]
    print("disk full: sign-in failed with a clear error, previous tokens intact, tokens lost: 0")


# -- a damaged store file ------------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.randbytes(20_000))


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:6000])


def _zeroed_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:12288] = bytes(8192)
    path.write_bytes(bytes(data))


def _not_a_token_store(path: Path) -> None:
    path.unlink()
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE notes (body TEXT)")
    raw.commit()
    raw.close()


DAMAGE = [_random_bytes, _truncated, _zeroed_middle, _not_a_token_store]


@pytest.fixture(params=DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def damaged_store(request, creds_config: dict) -> bytes:
    """The server's store file, with tokens, damaged before the server starts."""
    key = Fernet.generate_key().decode()
    creds_config["encryption_keys"] = [key]
    path = Path(creds_config["store_path"])
    with opened(path, key) as store:
        for i in range(50):
            store.save(StoredTokens(f"other-{i}", "a" * 300, refresh_token="r" * 100))
        store.save(previous_tokens())
    request.param(path)
    return path.read_bytes()


async def test_damaged_store_is_set_aside_and_the_user_signs_in_again(
    damaged_store, capfd, api, sign_in, creds_config, creds_app
):
    # Given a server that started on a damaged store file
    path = Path(creds_config["store_path"])
    # Then the file was set aside, intact, with a warning that says what to do
    asides = list(path.parent.glob(f"{path.name}.corrupt-*"))
    assert len(asides) == 1
    assert asides[0].read_bytes() == damaged_store
    # (the server configures its loggers at start-up, replacing handlers added before: the
    # warning is read from the server's stderr)
    startup_log = capfd.readouterr().err
    assert "is damaged or not a token store" in startup_log
    assert f"moved it to {asides[0]}" in startup_log
    assert "users must sign in to their integrations again" in startup_log
    # and the server works, with nobody signed in
    row = (await api.integrations())[ANALYTICS_ID]
    assert row["status"] == "not_signed_in"
    code, err, _ = await api.credentials(ANALYTICS_ID)
    assert (code, err["reason"]) == (409, "not_signed_in")
    # When the user signs in again, everything works
    page = await sign_in(ANALYTICS_ID)
    assert page.status_code == 200, page.text
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200
    assert creds["access_token"] != "previous-access-token"
    print(f"damaged store set aside as {asides[0].name}; server started; signed in again")


async def test_store_damaged_while_running_is_a_clear_error_not_a_traceback(
    api, sign_in, creds_config, creds_app
):
    await sign_in(ANALYTICS_ID)
    # When the file is overwritten under the running server (a disk fault, a bad copy)
    path = Path(creds_config["store_path"])
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))
    # Then every endpoint answers a JSON error naming the store, never a traceback
    for method, parts, params in [
        ("GET", ("credentials",), {"audience": ANALYTICS_ID}),
        ("GET", ("integrations",), None),
        ("GET", ("integrations", ANALYTICS_ID), None),
        ("POST", ("integrations", ANALYTICS_ID, "signout"), None),
    ]:
        code, err, _ = await api.call(method, *parts, params=params)
        assert code == 500, (parts, err)
        assert err["reason"] == "store_error", err
        assert "token store" in err["message"] or "damaged" in err["message"], err
        assert "traceback" not in err
