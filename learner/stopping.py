"""Why a run stops or goes back to a checkpoint.

Stop requests: SIGTERM (what `ray job stop` sends) and SIGINT (Ctrl-C) let the current step
finish, then the run writes a checkpoint and exits with a message that says how to resume. A
second Ctrl-C stops at once (the last checkpoint still resumes)."""
from __future__ import annotations

import signal
import threading


class LearnerLost(RuntimeError):
    """The learner (an actor) or its node died: the run goes back to its latest checkpoint."""


class RunFailed(RuntimeError):
    """A fault past its bound (e.g. more lost learners than learner.max_restarts): the run ends, its
    checkpoints stay for --resume."""


class StopRequested(Exception):
    """Raised by the driver after the checkpoint that follows a stop request."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopFlag:
    def __init__(self):
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def _request(self, signum, frame) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: now

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():  # signal handlers live there only
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.saved[signum] = signal.signal(signum, self._request)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    @property
    def requested(self) -> bool:
        return self.signum is not None
