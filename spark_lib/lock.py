"""The lakehouse lock: one writing run at a time on a lakehouse.

Every command that writes tables (``rcu ingest``, ``standardise``, ``match``, ``gold``, ``activate``, and
``run-all`` once for all its steps) holds it from before its first write to its end; read-only commands
(``explain``, ``dashboard``, ``check``) take none. A second run either waits (``--wait-lock SECONDS``) or
stops at once with::

    another run (pid 4242 on host etl-1, `rcu match`) holds this lakehouse since 2026-12-06 09:12:03 UTC; wait
    for it or, if that process is gone, run again (a lock whose process is dead is taken over)

The lock is ``fcntl.flock`` on an open descriptor of ``<lakehouse>/_rcu.lock``: the operating system
releases it when the process ends, however it ends (a SIGKILL, an out-of-memory kill), so a killed run never
leaves the lakehouse locked. The file also records who holds it (pid, host, command, start time): a run that
finds a record left behind knows its writer died, says so, and takes over.

Limitations: ``flock`` holds on local and POSIX filesystems (NFSv4 emulates it with byte-range locks). An
object store (``s3://``, ``abfss://``), DBFS or a filesystem without ``flock`` gets no lock: there Delta's
own conflict detection remains the guard, and :func:`concurrent_write_error` translates its exceptions into
the same kind of message.

Example::

    with LakehouseLock("lakehouse", command="rcu match", wait_seconds=0):
        ...  # write tables
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

LOCK_FILE = "_rcu.lock"
#: the command the stream holds the lock as, for each micro-batch's commits (see :mod:`spark_lib.streaming.stream`)
STREAM_COMMAND = "rcu stream"
#: how long a run waits, beyond its ``wait_seconds``, for the stream to end a micro-batch's commits (seconds)
STREAM_HOLD_SECONDS = 120.0
#: seconds between two attempts while waiting for the lock
POLL_SECONDS = 0.5
#: Delta's exceptions when two writers commit conflicting changes to one table
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DELTA_CONCURRENT_")


class LakehouseBusyError(RuntimeError):
    """Another run holds the lakehouse (or wrote to it at the same time); the message says who and what to do."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock, as recorded in the lock file."""

    pid: int
    host: str
    command: str
    started: str  # "2026-12-06 09:12:03 UTC"

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, `{self.command}`"


def local_folder(root: str) -> Path | None:
    """The local folder of a lakehouse root, or None for an object store or DBFS (no lock there)."""
    if root.startswith("file:"):
        return Path(root.removeprefix("file://").removeprefix("file:"))
    return None if "://" in root or root.startswith("dbfs:") else Path(root)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def busy_message(holder: Holder | None, waited: float = 0) -> str:
    who = f"another run ({holder.describe()}) holds this lakehouse since {holder.started}" if holder else \
        "another run holds this lakehouse"
    waited_text = f" (waited {waited:,.0f} s)" if waited else ""
    return (f"{who}{waited_text}; wait for it or, if that process is gone, run again "
            "(a lock whose process is dead is taken over)")


def concurrent_write_error(error: BaseException) -> LakehouseBusyError | None:
    """Delta's conflict between two writers of one table as a :class:`LakehouseBusyError` (None for any other
    error): where no lock holds (an object store), the user still reads what happened instead of a stack trace."""
    text = f"{type(error).__name__}: {error}"
    if not any(name in text for name in _CONFLICTS):
        return None
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return LakehouseBusyError(
        f"another run wrote to this lakehouse at the same time ({first_line[:200]}); nothing of this step was "
        "committed past the conflicting table: run again once the other run has ended"
    )


T = TypeVar("T")


def retried_on_conflict(write: Callable[[], T], is_conflict: Callable[[BaseException], bool], retries: int,
                        pause: float) -> T:
    """``write()``, run again up to ``retries`` times, after ``pause``, then twice, four times... as long, while it
    fails with an error ``is_conflict`` says is Delta refusing its commit for another writer's conflicting one (the
    write reads the table again: an upsert or an insert-only MERGE converges whatever was committed in between).
    Any other error, and the last conflict, is raised."""
    for attempt in range(retries):
        try:
            return write()
        except Exception as error:
            if not is_conflict(error):
                raise
            time.sleep(pause * 2 ** attempt)
    return write()


class LakehouseLock:
    """An exclusive lock on a lakehouse folder, held between ``acquire()`` and ``release()`` (or a ``with``)."""

    def __init__(self, root: str, command: str, wait_seconds: float = 0, log=None):
        if wait_seconds < 0:
            raise ValueError(f"'wait_seconds' must be 0 or more, got {wait_seconds}")
        self.root = root
        self.command = command
        self.wait_seconds = wait_seconds
        self.log = log or (lambda message: print(f"[lock] {message}", file=sys.stderr, flush=True))
        self._handle = None

    @property
    def path(self) -> Path | None:
        folder = local_folder(self.root)
        return None if folder is None else folder / LOCK_FILE

    def acquire(self) -> "LakehouseLock":
        """Take the lock, waiting up to ``wait_seconds``; raises :class:`LakehouseBusyError` when it stays held."""
        if self._handle is not None:
            raise RuntimeError(f"the lock on {self.root} is already held by this object")
        path = self.path
        if path is None:
            self.log(f"{self.root} is not a local folder: no lock, Delta's conflict detection is the only guard")
            return self
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= self.wait_seconds:
                    holder = _read_holder(handle)
                    # the stream holds the lakehouse seconds at a time (a micro-batch's commits; None: a holder
                    # writing its record): always worth waiting for
                    if (holder is None or holder.command == STREAM_COMMAND) and waited < self.wait_seconds + STREAM_HOLD_SECONDS:
                        time.sleep(POLL_SECONDS)
                        continue
                    handle.close()
                    raise LakehouseBusyError(busy_message(holder, waited if self.wait_seconds else 0)) from None
                time.sleep(min(POLL_SECONDS, self.wait_seconds - waited))
            except OSError as error:
                if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    handle.close()
                    raise
                handle.close()
                self.log(f"{path.parent} does not support flock: no lock, Delta's conflict detection is the only guard")
                return self
        previous = _read_holder(handle)
        if previous is not None:
            alive = previous.host != socket.gethostname() or process_alive(previous.pid)
            self.log(f"the run ({previous.describe()}) that took this lakehouse at {previous.started} ended without "
                     f"releasing it ({'it no longer holds it' if alive else 'its process is gone'}): taken over")
        holder = Holder(os.getpid(), socket.gethostname(), self.command,
                        dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder.__dict__) + "\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Clear the record and let the lock go (the file stays: removing it would race with a waiting run)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> "LakehouseLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(handle) -> Holder | None:
    """The holder recorded in the lock file (None when empty or unreadable)."""
    handle.seek(0)
    text = handle.read().strip()
    if not text:
        return None
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):
        return None
