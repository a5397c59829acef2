"""Ends what is left of a local Ray cluster when the process that started it dies, even by SIGKILL.

`ray.init()` starts the cluster's processes as descendants of the calling process; a clean exit
shuts them down, but after a SIGKILL some of them (the dashboard and runtime-env agents) are
re-parented to PID 1 and live on. This watcher runs in its own session, notes the starter's
descendants as they appear, and when the starter is gone (its end of a pipe closes), ends those
still alive (SIGTERM, then SIGKILL). Run as `python -m learner.reaper STARTER_PID FD`.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

POLL_S = 0.5  # how often the starter's descendants are listed
GRACE_S = 3.0  # between SIGTERM and SIGKILL


def watch(starter_pid: int, fd: int) -> None:
    import psutil

    me, seen = os.getpid(), {}
    try:
        starter = psutil.Process(starter_pid)
        while True:
            for child in starter.children(recursive=True):
                if child.pid != me:
                    seen[child.pid] = child  # psutil.Process remembers its start time: no PID-reuse mistakes
            readable, _, _ = select.select([fd], [], [], POLL_S)
            if readable and not os.read(fd, 64):
                break  # the starter exited, or was killed
    except psutil.NoSuchProcess:
        pass
    alive = [p for p in seen.values() if p.is_running()]
    for process in alive:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still = psutil.wait_procs(alive, timeout=GRACE_S)
    for process in still:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


_started_for: int | None = None  # the PID a watcher watches (one per process is enough)


def start_reaper() -> None:
    """Start the watcher for this process, once. The write end of its pipe stays open (and private
    to this process) until the process ends."""
    global _started_for
    if _started_for == os.getpid():
        return
    _started_for = os.getpid()
    read_end, _ = os.pipe()  # not inherited by Ray's children: only the watcher gets read_end
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    subprocess.Popen([sys.executable, "-m", "learner.reaper", str(os.getpid()), str(read_end)],
                     pass_fds=(read_end,), start_new_session=True, env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(read_end)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
