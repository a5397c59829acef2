"""One writer per run directory.

A local run directory is locked: its `owner.json` is held under an exclusive flock for the life of
the training process and names the owner (host, PID, start time). The kernel drops the lock when
the process ends however it ends (SIGKILL included), so a killed run resumes at once.

Object stores cannot lock, so a URI run directory holds an owner lease instead: `owner.json` with
the owner's host, PID, start time, a token and a heartbeat that a background thread refreshes
every HEARTBEAT_S. A lease not refreshed for LEASE_TIMEOUT_S is dead (its owner was killed or lost
its node) and may be taken over. Two starts at the same moment both write their lease, wait
SETTLE_S and read it back: only the one whose lease is there goes on. A writer whose lease was
taken over (it stalled past the timeout) writes nothing more: the run fails instead.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from learner.run.store import RunStore
from learner.stopping import RunFailed

OWNER = "owner.json"
HEARTBEAT_S = 10.0  # a lease's refresh period
LEASE_TIMEOUT_S = 60.0  # a lease older than this is dead: several missed heartbeats
SETTLE_S = 0.5  # between writing a lease and reading it back: a racing start's write lands in it


class RunBusy(ValueError):
    """The run directory has a live writer."""


@contextlib.contextmanager
def own_run(run: RunStore, timeout_s: float = LEASE_TIMEOUT_S, heartbeat_s: float = HEARTBEAT_S):
    """This process is the run directory's only writer for the block (RunBusy if another one is)."""
    owner = LocalLock(run.local) if run.local is not None else Lease(run, timeout_s, heartbeat_s)
    try:
        yield owner
    finally:
        owner.release()


def identity() -> dict:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": started}


def busy(location: str, owner: dict | None, since: str = "") -> RunBusy:
    who = (f"host {owner.get('host')}, PID {owner.get('pid')}, started {owner.get('started')}{since}"
           if isinstance(owner, dict) else "an owner that is still starting")
    return RunBusy(f"run directory {location!r} is in use by another seqgan train ({who}): a run directory has "
                   "one writer. Start a new run with another --out; to continue that one yourself, stop it "
                   f"(SIGTERM or Ctrl-C checkpoint it) and then seqgan train --resume {location}")


def _parsed(data: bytes) -> dict | None:
    try:
        owner = json.loads(data)
    except ValueError:
        return None
    return owner if isinstance(owner, dict) else None


class LocalLock:
    def __init__(self, folder: Path):
        self.folder, self.path = folder, folder / OWNER
        self.created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = self._lock()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(identity()).encode(), 0)

    def _lock(self) -> int:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _parsed(os.pread(fd, 4096, 0))
                os.close(fd)
                raise busy(str(self.folder), owner) from None
            if self._still_there(fd):
                return fd
            os.close(fd)  # the last owner removed the file between our open and our lock: again

    def _still_there(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def require_held(self) -> None:
        """A lock cannot be taken away while the process lives."""

    def release(self) -> None:
        """Removed while still locked, so a waiting opener sees a file gone and tries again; a folder
        this lock made and nothing else wrote to goes too (a run that failed before writing)."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        if self.created:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only when empty


def dead_here(lease: dict) -> bool:
    """A lease held by a process of this host that no longer runs (SIGKILLed): dead at once, with no
    need to wait for its heartbeat to go stale."""
    pid = lease.get("pid")
    if lease.get("host") != socket.gethostname() or type(pid) is not int or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's live process
        return False
    return False


class Lease:
    def __init__(self, run: RunStore, timeout_s: float, heartbeat_s: float):
        self.run, self.timeout_s, self.heartbeat_s = run, timeout_s, heartbeat_s
        self.mine = {**identity(), "token": uuid.uuid4().hex}
        self.lost: dict | None = None
        self.stopped = threading.Event()
        current = self.current()
        if current is not None and self.age(current) < timeout_s and not dead_here(current):
            raise self.refused(current)
        run.make()
        self.write()
        time.sleep(SETTLE_S)
        current = self.current()
        if current is None or current.get("token") != self.mine["token"]:
            raise self.refused(current)
        run.guard = self.require_held  # every write of the run checks the lease is still ours
        self.thread = threading.Thread(target=self.beat, name="seqgan-run-lease", daemon=True)
        self.thread.start()

    def current(self) -> dict | None:
        return _parsed(self.run.read_bytes(OWNER)) if self.run.is_file(OWNER) else None

    @staticmethod
    def age(lease: dict) -> float:
        beat = lease.get("heartbeat")
        return time.time() - beat if isinstance(beat, (int, float)) else float("inf")

    def refused(self, lease: dict | None) -> RunBusy:
        since = (f", its heartbeat {self.age(lease):.0f} s ago; a lease not refreshed for {self.timeout_s:.0f} s "
                 "counts as dead and may be taken over" if lease else "")
        return busy(self.run.location, lease, since)

    def write(self) -> None:
        self.run.write_bytes(OWNER, json.dumps({**self.mine, "heartbeat": time.time()}).encode())

    def beat(self) -> None:
        while not self.stopped.wait(self.heartbeat_s) and self.lost is None:
            try:
                self.refresh()
            except OSError:  # storage unreachable for a moment: the next beat tries again
                continue

    def refresh(self) -> None:
        """A new heartbeat, unless the lease is no longer ours."""
        current = self.current()
        if current is None or current.get("token") != self.mine["token"]:
            self.lost = current or {}
        else:
            self.write()

    def require_held(self) -> None:
        if self.lost is not None:
            raise RunFailed(f"run directory {self.run.location!r} was taken over by another writer "
                            f"(host {self.lost.get('host')}, PID {self.lost.get('pid')}) after this run's lease went "
                            f"{self.timeout_s:.0f} s without a heartbeat; this run stops writing there")

    def release(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.run.guard = None
        with contextlib.suppress(OSError):  # storage gone: the lease goes stale and may be taken over
            current = self.current()
            if self.lost is None and current is not None and current.get("token") == self.mine["token"]:
                self.run.remove_file(OWNER)
