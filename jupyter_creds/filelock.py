"""Cross-process locks on small lock files, and private (0700 / 0600) files and directories.

Why ``flock`` on separate lock files, never on the SQLite file:

- POSIX ``fcntl`` record locks belong to the process and vanish when *any* descriptor of the file is
  closed, and SQLite uses them on its own database file; a lock of ours there would be dropped
  behind our back, or would drop SQLite's.
- SQLite's own locks last one transaction, but a token refresh must stay exclusive across an HTTP
  call during which no transaction may be open.
- ``flock`` locks belong to the open file description: two locks taken through two ``open()`` calls
  exclude each other even inside one process (so threads are covered as well as processes), and
  the kernel drops a lock when its holder dies, so a killed server never leaves a stale lock.

Lock files are never deleted: deleting one while another process waits on it would let a third
process lock a new file of the same name, and two "exclusive" holders would run at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
import threading
import time
from pathlib import Path
from types import TracebackType

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

# Polling bounds for acquire(timeout=...): short enough that a released lock is picked up
# quickly, long enough that waiting threads do not spin.
_FIRST_POLL = 0.002
_MAX_POLL = 0.05


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it 0700 whatever the umask or its previous mode."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def open_private_file(path: Path, flags: int = os.O_RDWR) -> int:
    """Open (creating if needed) ``path`` as a 0600 file and return the descriptor.

    ``O_NOFOLLOW`` refuses a planted symlink; ``fchmod`` makes the mode exact even under a lax
    umask or when the file existed with a wider mode. Descriptors are non-inheritable (Python's
    default), so kernels the server starts never hold our locks.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def move_aside(path: Path, label: str) -> Path:
    """Rename ``path`` to ``{path}.{label}-{UTC time}`` (never over an existing file); return it.

    SQLite side files (``-journal``, ``-wal``, ``-shm``) go along: a stale journal left behind
    would be "rolled back" into whatever file is created under the old name next.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside, n = Path(f"{path}.{label}-{stamp}"), 1
    while aside.exists():
        aside, n = Path(f"{path}.{label}-{stamp}-{n}"), n + 1
    os.replace(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def create_private_file_once(path: Path, data: bytes) -> bool:
    """Create ``path`` (0600) holding ``data``, unless it exists; return whether we created it.

    Written to a temporary file and hard-linked into place, so a reader never sees it half
    written, and two processes racing to create it end up agreeing on the first one's content.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = open_private_file(tmp, os.O_WRONLY | os.O_EXCL)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


class FileLock:
    """An exclusive lock on one lock file, held across processes and threads.

    ``acquire`` blocks, so call it from a worker thread when running on an event loop
    (``await loop.run_in_executor(None, lock.acquire)``). ``release`` may be called from any thread:
    the lock is not tied to the thread that took it. Not re-entrant: a second ``acquire`` on a lock
    that is already held waits like any other contender.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._guard = threading.Lock()
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> bool:
        """Take the lock; wait forever (``None``) or up to ``timeout`` seconds.

        Returns False when the timeout passed first. ``timeout=0`` tries once.
        """
        fd = open_private_file(self.path)
        try:
            got = self._lock_fd(fd, timeout)
        except BaseException:
            os.close(fd)
            raise
        if not got:
            os.close(fd)
            return False
        with self._guard:
            # flock already excludes every other holder, so this slot is free; keep the check
            # anyway so that a logic error shows up loudly instead of leaking a descriptor.
            if self._fd is not None:  # pragma: no cover
                os.close(fd)
                raise RuntimeError(f"lock {self.path} is already held by this object")
            self._fd = fd
        return True

    @staticmethod
    def _lock_fd(fd: int, timeout: float | None) -> bool:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # EINTR is retried by Python (PEP 475)
            return True
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = _FIRST_POLL
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_POLL)

    def release(self) -> None:
        """Give the lock up; callable from any thread. Raises RuntimeError when not held."""
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError(f"lock {self.path} is not held")
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)  # closing alone would release it too; unlocking first is explicit

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # A lock object dropped while held (an exception between acquire and release) must not
        # keep the integration locked until the server exits.
        fd = getattr(self, "_fd", None)
        if fd is not None:
            self._fd = None
            with contextlib.suppress(OSError):
                os.close(fd)


class RefreshLock(FileLock):
    """Keeps a second refresh of one integration from starting, in any process sharing the store.

    ``acquire`` blocks: call it from a worker thread, never on the event loop.
    """

    def __init__(self, path: Path, integration_id: str) -> None:
        super().__init__(path)
        self.integration_id = integration_id
