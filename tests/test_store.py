"""The encrypted token store: privacy of its files, compare-and-swap, keys, damage, crashes, locks.

Every test works on real files under ``tmp_path``; the crash, disk-full and lock tests run real
child processes, because what they check (SIGKILL mid-write, RLIMIT_FSIZE, flock between
processes) cannot be faked inside one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import jupyter_creds.store as store_module
from jupyter_creds.store import (
    StoredTokens,
    StoreError,
    TokenStore,
    key_id,
    resolve_keys,
)

ACCESS = "sentinel-access-token-3c9d1e"
REFRESH = "sentinel-refresh-token-8a4f2b"
ID = "3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11"
OTHER_ID = "a3d9e4b2-58c1-4f0a-b7e6-2c9d1f4a8e21"
# The reliability suite runs the crash test with more kills: JUPYTER_CREDS_CRASH_KILLS=200.
CRASH_KILLS = int(os.environ.get("JUPYTER_CREDS_CRASH_KILLS", "50"))
LOG = logging.getLogger("test_store")
# Child processes import jupyter_creds from this checkout, installed or not.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(Path(store_module.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    ),
}


def new_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "creds" / "tokens.db"


@pytest.fixture
def store(path: Path, key: str) -> Iterator[TokenStore]:
    with opened(path, [key]) as s:
        yield s


def opened(path: Path, keys: list[str]) -> contextlib.closing[TokenStore]:
    """A TokenStore that is closed at the end of the ``with`` block."""
    return contextlib.closing(TokenStore(path, keys, log=LOG))


def pair(n: int, integration_id: str = ID, **extra: object) -> StoredTokens:
    """Tokens written as a matching pair, so a torn write would show."""
    return StoredTokens(integration_id, f"at-{n}", refresh_token=f"rt-{n}", **extra)  # type: ignore[arg-type]


def all_file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


# -- privacy of the files ----------------------------------------------------------------------


def test_store_key_and_lock_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    # Given a umask that would make new files world-readable
    old_umask = os.umask(0)
    try:
        # When keys are generated and a store is created, used and locked
        keys = resolve_keys(
            env_value=None, configured=[], key_file=tmp_path / "k" / "tokens.key", log=LOG
        )
        db = tmp_path / "state" / "tokens.db"
        with opened(db, keys) as s:
            s.save(pair(1))
            with s.refresh_lock(ID) as lock:
                lock_file = lock.path
    finally:
        os.umask(old_umask)
    # Then every directory is 0700 and every file 0600
    assert (mode(db.parent), mode(db)) == (0o700, 0o600)
    assert (mode(tmp_path / "k"), mode(tmp_path / "k" / "tokens.key")) == (0o700, 0o600)
    assert (mode(lock_file.parent), mode(lock_file)) == (0o700, 0o600)
    # and the lock is a separate file, never the database
    assert lock_file.parent == Path(f"{db}.locks")
    assert lock_file != db


def test_existing_loose_permissions_are_tightened(path: Path, key: str) -> None:
    # Given a store directory and file that someone made readable by others
    with opened(path, [key]):
        pass
    os.chmod(path.parent, 0o755)  # noqa: S103
    os.chmod(path, 0o644)
    # When the store opens again
    with opened(path, [key]):
        pass
    # Then they are private again
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)


def test_raw_files_never_hold_a_planted_token(path: Path, key: str) -> None:
    # Given planted tokens saved, saved again, signed out and re-encrypted
    with opened(path, [key]) as s:
        s.save(StoredTokens(ID, ACCESS, refresh_token=REFRESH))
        s.save(StoredTokens(OTHER_ID, ACCESS + "-2", refresh_token=REFRESH + "-2"))
        s.save(StoredTokens(OTHER_ID, ACCESS + "-3", refresh_token=REFRESH + "-3"))
        s.mark_signed_out(OTHER_ID, "test")
        s.rotate_keys()
        assert s.get(ID) is not None
    # When another connection is in the middle of a write (a rollback journal exists)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE secrets SET secret = 'x'")
        raw.execute("UPDATE tokens SET updated_at = 0")
        side_files = [p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "-")]
        everything = all_file_bytes(path.parent)
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    # Then no file (database, journal, locks) contains either token
    assert side_files == [f"{path.name}-journal"]
    assert ACCESS.encode() not in everything
    assert REFRESH.encode() not in everything
    print(f"bytes searched: {len(everything)}, planted tokens found: 0")


def test_repr_of_tokens_hides_the_secrets() -> None:
    text = repr(StoredTokens(ID, ACCESS, refresh_token=REFRESH))
    assert ID in text
    assert ACCESS not in text
    assert REFRESH not in text


# -- saving, generations, compare-and-swap ----------------------------------------------------


def test_roundtrip_keeps_every_field(store: TokenStore) -> None:
    given = StoredTokens(
        ID,
        ACCESS,
        token_type="DPoP",
        refresh_token=REFRESH,
        scope="openid offline_access",
        expires_at=1_900_000_000.5,
        obtained_at=1_899_999_000.25,
        account="ada@example.com",
    )
    saved = store.save(given)
    assert saved is not None
    assert saved.generation == 1
    assert store.get(ID) == saved
    assert store.get(OTHER_ID) is None


def test_provider_without_refresh_token_or_expiry(store: TokenStore) -> None:
    store.save(StoredTokens(ID, ACCESS))
    got = store.get(ID)
    assert got is not None
    assert (got.refresh_token, got.expires_at, got.token_type) == (None, None, "Bearer")
    summary = store.summaries()[ID]
    assert (summary.signed_in, summary.has_refresh_token, summary.expires_at) == (True, False, None)


def test_generation_increments_on_every_save(store: TokenStore) -> None:
    generations = [store.save(pair(n)).generation for n in range(1, 4)]  # type: ignore[union-attr]
    assert generations == [1, 2, 3]
    assert store.get(ID).generation == 3  # type: ignore[union-attr]


def test_cas_save_after_sign_out_does_not_bring_tokens_back(store: TokenStore) -> None:
    # Given a refresh that read generation 1, then the user signed out
    read = store.save(pair(1))
    assert read is not None
    assert store.delete(ID) == read
    # When the refresh saves its result with if_generation
    result = store.save(pair(2), if_generation=read.generation)
    # Then nothing is saved and nothing comes back
    assert result is None
    assert store.get(ID) is None
    assert ID not in store.summaries()


def test_cas_save_after_sign_out_and_new_sign_in_loses(store: TokenStore) -> None:
    # Given a refresh that read generation 1, a sign-out, and a fresh sign-in since
    read = store.save(pair(1))
    store.delete(ID)
    fresh = store.save(pair(100))
    assert fresh is not None
    assert fresh.generation > read.generation
    # When the old refresh saves with if_generation=1
    assert store.save(pair(2), if_generation=1) is None
    # Then the fresh sign-in is what is stored
    assert store.get(ID) == fresh


def test_cas_with_stale_generation_returns_none(store: TokenStore) -> None:
    store.save(pair(1))
    current = store.save(pair(2))
    assert store.save(pair(3), if_generation=1) is None
    assert store.get(ID) == current
    saved = store.save(pair(4), if_generation=2)
    assert saved is not None
    assert saved.generation == 3
    assert store.get(ID) == saved


def test_cas_on_never_saved_integration_returns_none(store: TokenStore) -> None:
    assert store.save(pair(1), if_generation=0) is None
    assert store.get(ID) is None


def test_cas_increments_from_two_connections_and_many_threads_lose_nothing(
    path: Path, key: str
) -> None:
    # Given two connections (as two processes would have), shared by 8 threads
    with opened(path, [key]) as a, opened(path, [key]) as b:
        a.save(StoredTokens(ID, "0"))
        per_thread, threads = 25, 8
        retries = [0]

        def bump(s: TokenStore) -> None:
            for _ in range(per_thread):
                while True:
                    cur = s.get(ID)
                    assert cur is not None
                    nxt = StoredTokens(ID, str(int(cur.access_token) + 1))
                    if s.save(nxt, if_generation=cur.generation) is not None:
                        break
                    retries[0] += 1

        # When every thread increments the counter with read + compare-and-swap
        workers = [threading.Thread(target=bump, args=(a if i % 2 else b,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        # Then no increment was lost
        final = a.get(ID)
        assert final is not None
        assert final.access_token == str(per_thread * threads)
        print(f"increments: {per_thread * threads}, CAS retries: {retries[0]}, lost: 0")


def test_mark_signed_out_remembers_why_until_next_save(store: TokenStore) -> None:
    store.save(pair(1, account="ada@example.com"))
    assert store.mark_signed_out(ID, "the provider revoked the grant") is True
    assert store.get(ID) is None
    summary = store.summaries()[ID]
    assert not summary.signed_in
    assert summary.reason == "the provider revoked the grant"
    assert summary.account is None
    store.save(pair(2))
    assert store.summaries()[ID].reason is None
    assert store.summaries()[ID].signed_in


def test_mark_signed_out_with_stale_generation_keeps_a_newer_sign_in(store: TokenStore) -> None:
    # Given a refresh of generation 1 that got invalid_grant after a new sign-in (generation 2)
    store.save(pair(1))
    newer = store.save(pair(2))
    # When it marks the integration signed out for generation 1
    acted = store.mark_signed_out(ID, "invalid_grant", if_generation=1)
    # Then the newer sign-in stays
    assert acted is False
    assert store.get(ID) == newer


def test_delete_returns_previous_tokens_for_revocation(store: TokenStore) -> None:
    store.save(StoredTokens(ID, ACCESS, refresh_token=REFRESH))
    gone = store.delete(ID)
    assert gone is not None
    assert gone.refresh_token == REFRESH
    assert store.delete(ID) is None  # idempotent
    assert store.get(ID) is None


def test_closed_store_raises_store_error(path: Path, key: str) -> None:
    s = TokenStore(path, [key])
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get(ID)


# -- keys --------------------------------------------------------------------------------------


def test_wrong_key_reads_as_signed_out_with_one_clear_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given tokens saved under one key
    with opened(path, [new_key()]) as s:
        s.save(StoredTokens(ID, ACCESS, refresh_token=REFRESH))
    # When the store is opened with another key and read twice
    caplog.set_level(logging.DEBUG)
    with opened(path, [new_key()]) as s:
        first, second = s.get(ID), s.get(ID)
        summary = s.summaries()[ID]
    # Then it reads as "not signed in", and one WARNING says why without any token text
    assert first is None
    assert second is None
    assert summary.signed_in is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert ID in message
    assert "cannot be decrypted" in message
    assert "JUPYTER_CREDS_KEY" in message
    assert ACCESS not in caplog.text
    assert REFRESH not in caplog.text
    assert "gAAAAA" not in caplog.text  # no Fernet ciphertext either


def test_new_key_first_reads_old_rows_and_encrypts_new_saves(path: Path) -> None:
    old, new = new_key(), new_key()
    with opened(path, [old]) as s:
        s.save(pair(1))
        s.save(pair(1, OTHER_ID))
    # Given keys "new;old": old rows still read and count as signed in
    with opened(path, [new, old]) as s:
        assert s.get(ID) is not None
        assert s.summaries()[ID].signed_in
        # When one integration saves again
        s.save(pair(2))
    # Then that save used the new key: the new key alone reads it, and only it
    with opened(path, [new]) as s:
        assert s.get(ID) is not None
        assert s.get(ID).access_token == "at-2"
        assert s.summaries()[ID].signed_in
        assert not s.summaries()[OTHER_ID].signed_in
        assert s.get(OTHER_ID) is None
    assert key_id(new) != key_id(old)


def test_rotate_keys_reencrypts_every_readable_row(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, new, stranger = new_key(), new_key(), new_key()
    with opened(path, [old]) as s:
        for i in range(3):
            s.save(pair(i, f"id-{i}"))
    with opened(path, [stranger]) as s:
        s.save(pair(9, "id-foreign"))
    # When the store rotates to "new;old"
    with opened(path, [new, old]) as s:
        count = s.rotate_keys()
    # Then all three rows moved to the new key; the unreadable one is left and logged
    assert count == 3
    assert "id-foreign" in caplog.text
    with opened(path, [new]) as s:
        assert [s.get(f"id-{i}").access_token for i in range(3)] == ["at-0", "at-1", "at-2"]  # type: ignore[union-attr]
        assert all(s.summaries()[f"id-{i}"].signed_in for i in range(3))
    print(f"rows re-encrypted: {count}, left unreadable: 1")


def test_resolve_keys_environment_wins_and_splits_on_semicolons(tmp_path: Path) -> None:
    k1, k2, k3 = new_key(), new_key(), new_key()
    keys = resolve_keys(
        env_value=f" {k1} ;; {k2};", configured=[k3], key_file=tmp_path / "key", log=LOG
    )
    assert keys == [k1, k2]
    assert not (tmp_path / "key").exists()


def test_resolve_keys_configured_list_comes_next(tmp_path: Path) -> None:
    k1, k2 = new_key(), new_key()
    for env in (None, "", " ; "):
        got = resolve_keys(env_value=env, configured=[k1, k2], key_file=tmp_path / "k", log=LOG)
        assert got == [k1, k2]
    assert not (tmp_path / "k").exists()


def test_resolve_keys_generates_a_key_file_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "state" / "tokens.key"
    caplog.set_level(logging.INFO)
    first = resolve_keys(env_value=None, configured=[], key_file=key_file, log=LOG)
    second = resolve_keys(env_value=None, configured=[], key_file=key_file, log=LOG)
    assert first == second
    assert len(first) == 1
    Fernet(first[0])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(key_file) in warnings[0]
    assert "JUPYTER_CREDS_KEY" in warnings[0]
    assert "next to them" in warnings[0]
    assert first[0] not in caplog.text
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700


@pytest.mark.parametrize(
    ("env_value", "configured", "names"),
    [
        ("not-a-fernet-key-SECRETISH", [], "JUPYTER_CREDS_KEY key #1"),
        (None, ["not-a-fernet-key-SECRETISH"], "configured encryption key #1"),
        ("VALID;not-a-fernet-key-SECRETISH", [], "JUPYTER_CREDS_KEY key #2"),
        ("é-not-a-fernet-key-SECRETISH", [], "JUPYTER_CREDS_KEY key #1"),
    ],
)
def test_invalid_key_is_a_clear_error_without_the_key_text(
    tmp_path: Path, env_value: str | None, configured: list[str], names: str
) -> None:
    if env_value:
        env_value = env_value.replace("VALID", new_key())
    with pytest.raises(ValueError, match="not a valid Fernet key") as caught:
        resolve_keys(env_value=env_value, configured=configured, key_file=tmp_path / "k", log=LOG)
    assert names in str(caught.value)
    assert "SECRETISH" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_invalid_key_file_is_a_clear_error_without_its_content(tmp_path: Path) -> None:
    key_file = tmp_path / "tokens.key"
    key_file.write_bytes(b"\xffSECRETISH-garbage\n")
    with pytest.raises(ValueError, match="not a valid Fernet key") as caught:
        resolve_keys(env_value=None, configured=[], key_file=key_file, log=LOG)
    assert str(key_file) in str(caught.value)
    assert "SECRETISH" not in str(caught.value)


# -- damaged or foreign files ------------------------------------------------------------------


def _random_bytes(db: Path) -> None:
    db.write_bytes(random.Random(7).randbytes(64 * 1024))


def _truncated_to_half(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _truncated_header(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:50])


def _someone_elses_database(db: Path) -> None:
    db.unlink()
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE notes (body TEXT)")
    raw.commit()
    raw.close()


@pytest.mark.parametrize(
    "damage", [_random_bytes, _truncated_to_half, _truncated_header, _someone_elses_database]
)
def test_damaged_file_is_set_aside_and_a_fresh_store_works(
    path: Path, key: str, damage, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a store with tokens whose file is then damaged
    with opened(path, [key]) as s:
        for i in range(200):
            s.save(StoredTokens(f"id-{i}", "a" * 500, refresh_token="r" * 200))
    damage(path)
    damaged = path.read_bytes()
    # When it opens
    with opened(path, [key]) as s:
        # Then the old file is kept aside, a WARNING says so, and the new store works
        asides = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
        assert len(asides) == 1
        assert asides[0].read_bytes() == damaged
        warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert str(asides[0]) in warning
        assert "sign in" in warning
        assert s.get("id-1") is None
        assert s.summaries() == {}
        s.save(pair(1))
        assert s.get(ID).access_token == "at-1"  # type: ignore[union-attr]


def test_locked_file_is_an_error_not_damage(
    path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2)
    with opened(path, [key]) as s:
        s.save(pair(1))
        # Given another process holds the store locked longer than the busy timeout
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN EXCLUSIVE")
        try:
            # When a store opens it, and one already open tries to save
            with pytest.raises(StoreError, match="locked"):
                TokenStore(path, [key])
            with pytest.raises(StoreError, match="locked") as caught:
                s.save(pair(2))
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        # Then both fail clearly, the file is not mistaken for a damaged one, and nothing is lost
        assert str(caught.value).startswith("could not save tokens: another process kept")
        assert str(caught.value).endswith("the previous tokens are unchanged")
        assert s.get(ID).access_token == "at-1"  # type: ignore[union-attr]
    assert not list(path.parent.glob("*.corrupt-*"))


def test_store_written_by_a_newer_version_is_not_discarded(path: Path, key: str) -> None:
    with opened(path, [key]) as s:
        s.save(pair(1))
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer jupyter_creds"):
        TokenStore(path, [key])
    assert not list(path.parent.glob("*.corrupt-*"))


# -- listing -----------------------------------------------------------------------------------


def test_summaries_of_1000_integrations_never_decrypt(
    path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 1,000 signed-in integrations with realistic token sizes
    with opened(path, [key]) as s:
        for i in range(1000):
            s.save(
                StoredTokens(
                    f"{i:08d}-1c34-4a59-9d38-9f0c1b3e2a11",
                    "a" * 1200,
                    refresh_token="r" * 400 if i % 2 else None,
                    expires_at=1_900_000_000.0 + i,
                    account=f"user{i}@example.com",
                )
            )
    fresh, changed, unchanged, listings = [], [], [], []
    with opened(path, [key]) as writer:
        for _ in range(7):
            # When a newly opened store lists them (no decryption possible: no Fernet at all)
            with opened(path, [key]) as s:
                monkeypatch.setattr(s, "_fernet", None)
                t = time.perf_counter()
                listings.append(s.summaries())
                fresh.append(time.perf_counter() - t)
                # and lists again after another connection wrote, and again with nothing new
                writer.save(pair(len(fresh)))
                t = time.perf_counter()
                again = s.summaries()
                changed.append(time.perf_counter() - t)
                t = time.perf_counter()
                s.summaries()
                unchanged.append(time.perf_counter() - t)
    # Then the answers are right
    assert len(listings[0]) == 1000
    assert len(again) == 1001
    one = listings[0]["00000007-1c34-4a59-9d38-9f0c1b3e2a11"]
    assert (one.signed_in, one.has_refresh_token, one.account) == (True, True, "user7@example.com")
    assert one.expires_at == 1_900_000_007.0
    assert one.reason is None
    assert again[ID].signed_in
    # Timings are printed for the record, not asserted (the benchmark measures speed)
    runs = {"new store": fresh, "after a write": changed, "unchanged": unchanged}
    best = {name: min(times) * 1e3 for name, times in runs.items()}
    print("summaries() of 1,000 rows, best / median ms: " + ", ".join(
        f"{name} {best[name]:.2f} / {statistics.median(times) * 1e3:.2f}"
        for name, times in runs.items()
    ))  # fmt: skip


def test_summaries_see_other_connections_and_own_writes(path: Path, key: str) -> None:
    with opened(path, [key]) as a, opened(path, [key]) as b:
        a.save(pair(1))
        assert set(a.summaries()) == {ID}
        b.save(pair(1, OTHER_ID))
        assert set(a.summaries()) == {ID, OTHER_ID}
        b.mark_signed_out(ID, "revoked")
        assert a.summaries()[ID].reason == "revoked"
        a.save(pair(2))
        assert a.summaries()[ID].reason is None
        assert a.summaries()[ID].signed_in
        a.delete(OTHER_ID)
        assert set(b.summaries()) == {ID}


# -- crashes and full disks --------------------------------------------------------------------

# Forks writers on request and reaps them; forking from this small single-threaded helper is
# cheap and safe (unlike forking pytest), so hundreds of kills take seconds.
_WRITER_FORKER = r"""
import os, sys
from pathlib import Path
from jupyter_creds.store import StoredTokens, TokenStore

path, key = Path(sys.argv[1]), sys.argv[2]
while sys.stdin.readline():
    pid = os.fork()
    if pid == 0:
        try:
            store = TokenStore(path, [key])
            current = store.get("crash")
            n = int(current.access_token[3:]) if current else 0
            while True:
                n += 1
                store.save(StoredTokens(
                    "crash", f"at-{n}", refresh_token=f"rt-{n}", expires_at=float(n)
                ))
        finally:
            os._exit(3)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


@dataclass
class CrashReport:
    kills: int = 0
    changed: int = 0  # kills after which a newer value was read
    unchanged: int = 0  # kills after which the previous value was read
    last: int = 0  # the counter read after the last kill


def kill_writer_repeatedly(path: Path, key: str, kills: int, seed: int) -> CrashReport:
    """SIGKILL a process that saves tokens in a loop, ``kills`` times at random moments; after
    each kill, open the store and check it holds the old or a newer complete pair, never less."""
    rng, report = random.Random(seed), CrashReport()
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER_FORKER, str(path), key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    ) as forker:
        assert forker.stdin is not None
        assert forker.stdout is not None
        try:
            for _ in range(kills):
                forker.stdin.write("go\n")
                forker.stdin.flush()
                pid = int(forker.stdout.readline())
                time.sleep(rng.uniform(0.002, 0.040))
                os.kill(pid, signal.SIGKILL)
                status = int(forker.stdout.readline())
                ended_itself = f"the writer ended by itself (status {status}): it failed to write"
                assert os.WIFSIGNALED(status), ended_itself
                assert os.WTERMSIG(status) == signal.SIGKILL, ended_itself
                report.kills += 1
                with opened(path, [key]) as s:
                    got = s.get("crash")
                if got is None:
                    assert report.last == 0, f"tokens lost after kill {report.kills}"
                    report.unchanged += 1
                    continue
                n = int(got.access_token.removeprefix("at-"))
                torn = f"torn write after kill {report.kills}"
                assert got.refresh_token == f"rt-{n}", torn
                assert got.expires_at == float(n), torn
                assert n >= report.last, f"went back from {report.last} to {n}"
                report.changed += n > report.last
                report.unchanged += n == report.last
                report.last = n
        finally:
            forker.stdin.close()
            forker.wait(10)
    return report


def test_sigkill_during_writes_leaves_old_or_new_tokens(path: Path, key: str) -> None:
    seed = random.randrange(1 << 30)
    report = kill_writer_repeatedly(path, key, CRASH_KILLS, seed)
    print(
        f"kills survived: {report.kills} (seed {seed}), tokens lost: 0, torn pairs: 0, "
        f"new value after {report.changed}, old value after {report.unchanged}, "
        f"saves completed: {report.last}"
    )
    assert report.kills == CRASH_KILLS
    assert report.last > 0
    assert report.changed >= CRASH_KILLS // 10  # the writers did get to write between kills
    with opened(path, [key]) as s:
        assert s._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # type: ignore[union-attr]


_FILL_THE_DISK = r"""
import resource, signal, sys
from pathlib import Path
from jupyter_creds.store import StoredTokens, StoreError, TokenStore

path, key = Path(sys.argv[1]), sys.argv[2]
store = TokenStore(path, [key])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
limit = path.stat().st_size + 16 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    store.save(StoredTokens("disk", "B" * 1_000_000, refresh_token="big-refresh"))
except StoreError as e:
    print("ERROR", e)
else:
    print("SAVED")
after = store.get("disk")
print("AFTER", after.access_token, after.refresh_token)
"""


def test_full_disk_fails_clearly_and_keeps_previous_tokens(path: Path, key: str) -> None:
    # Given saved tokens
    with opened(path, [key]) as s:
        s.save(pair(1, "disk"))
    # When a process whose files may not grow saves a 1 MB token
    out = subprocess.run(
        [sys.executable, "-c", _FILL_THE_DISK, str(path), key],
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    # Then the save fails with a message about the disk, without token text
    error = out[0]
    print(error)
    assert error.startswith("ERROR could not save tokens: the disk")
    assert "previous tokens are unchanged" in error
    assert "BBBB" not in error
    # and the previous tokens read back intact, there and here
    assert out[1] == "AFTER at-1 rt-1"
    with opened(path, [key]) as s:
        got = s.get("disk")
        assert got is not None
        assert (got.access_token, got.refresh_token) == ("at-1", "rt-1")
        assert s._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # type: ignore[union-attr]


# -- refresh locks -----------------------------------------------------------------------------

_HOLD_LOCK = r"""
import sys
from pathlib import Path
from jupyter_creds.store import TokenStore

store = TokenStore(Path(sys.argv[1]), [sys.argv[2]])
lock = store.refresh_lock(sys.argv[3])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


def test_refresh_lock_excludes_other_processes_per_integration(path: Path, key: str) -> None:
    with opened(path, [key]) as s, subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), key, ID],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    ) as holder:  # fmt: skip
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            # Given another process holds the lock of one integration
            assert holder.stdout.readline() == "locked\n"
            lock = s.refresh_lock(ID)
            # When this process tries it with a timeout
            t = time.monotonic()
            got = lock.acquire(timeout=0.3)
            waited = time.monotonic() - t
            # Then it gives up after the timeout; another integration's lock is free meanwhile
            assert got is False
            assert waited >= 0.3
            other = s.refresh_lock(OTHER_ID)
            assert other.acquire(timeout=0) is True
            other.release()
            # and once the holder releases, the lock is ours
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert lock.acquire(timeout=5) is True
            lock.release()
            assert holder.stdout.readline() == "released\n"
        finally:
            holder.stdin.close()
            holder.wait(10)


def test_refresh_lock_excludes_within_one_process_and_releases_from_any_thread(
    store: TokenStore,
) -> None:
    first, second = store.refresh_lock(ID), store.refresh_lock(ID)
    # Given the lock taken in a worker thread, as the server does
    taker = threading.Thread(target=first.acquire)
    taker.start()
    taker.join()
    assert first.locked
    # Then a second lock object for the same integration can't have it
    assert second.acquire(timeout=0.05) is False
    # When another thread releases it
    releaser = threading.Thread(target=first.release)
    releaser.start()
    releaser.join()
    # Then it is free
    assert second.acquire(timeout=0) is True
    second.release()
    with pytest.raises(RuntimeError, match="not held"):
        second.release()


def test_refresh_lock_from_an_event_loop_via_executor(store: TokenStore) -> None:
    async def refresh_once() -> bool:
        lock = store.refresh_lock(ID)
        loop = asyncio.get_running_loop()
        got = await loop.run_in_executor(None, lock.acquire, 2.0)
        try:
            return got and not store.refresh_lock(ID).acquire(timeout=0)
        finally:
            lock.release()

    assert asyncio.run(refresh_once()) is True
    with store.refresh_lock(ID):  # and it was released
        pass


def test_refresh_lock_dropped_while_held_does_not_stay_locked(store: TokenStore) -> None:
    # Given a lock object dropped while held (an exception between acquire and release)
    lock = store.refresh_lock(ID)
    assert lock.acquire(timeout=0)
    del lock
    # Then the integration is not locked forever
    again = store.refresh_lock(ID)
    assert again.acquire(timeout=0)
    again.release()
