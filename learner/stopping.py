"""Why a run stops or goes back to a checkpoint.

Stop requests: SIGTERM (what `ray job stop` sends) and SIGINT (Ctrl-C) let the current step
finish, then the run writes a checkpoint and exits with a message that says how to resume. A
second request of either kind stops at once (the last checkpoint still resumes). Outside training,
SIGTERM interrupts as Ctrl-C does, so a command's temporary files go as they do on Ctrl-C."""
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


class Interrupted(KeyboardInterrupt):
    """A stop at once, by SIGTERM or SIGINT; `advice` says what to do next (resume, the job
    that keeps running), for the command's final message."""

    def __init__(self, signum: int = signal.SIGINT, advice: str = ""):
        super().__init__(advice)
        self.signum, self.advice = signum, advice

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @classmethod
    def advising(cls, interrupt: KeyboardInterrupt, advice: str) -> "Interrupted":
        """The same interrupt (its signal kept), with the advice of the command it stopped."""
        return cls(getattr(interrupt, "signum", signal.SIGINT), advice)


def interrupt_now(signum, frame) -> None:
    """A signal handler: stop at once, as Python's own Ctrl-C handler does."""
    raise Interrupted(signum)


class StopFlag:
    def __init__(self):
        self.signum: int | None = None
        self.saved: dict[int, object] = {}

    def _request(self, signum, frame) -> None:
        self.signum = signum
        for again in (signal.SIGTERM, signal.SIGINT):  # a second request of either kind: now
            signal.signal(again, interrupt_now)

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
