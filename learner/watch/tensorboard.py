"""TensorBoard events of a run's metrics, in RUN_DIR/tensorboard/.

An event's global step is its record's position in metrics.jsonl, so the metrics of all phases share
one axis and a resumed run continues it. TensorBoard is an optional extra (`seqgan[watch]`).
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

MISSING = "TensorBoard events off: pip install 'seqgan[watch]'"
FOLDER = "tensorboard"
EVENT_FILES = "events.out.tfevents.*"
TAGS = {"g_loss": "loss/generator", "d_loss": "loss/discriminator", "d_acc": "discriminator/acc_train",
        "d_acc_heldout": "discriminator/acc_heldout", "d_real_heldout": "discriminator/real_heldout",
        "d_fake_heldout": "discriminator/fake_heldout", "mean_reward": "reward/mean",
        "nll_oracle": "nll/oracle", "nll_test": "nll/test", "units_rerun": "ray/units_rerun",
        "version_lag_max": "ray/version_lag_max"}


def tag(key: str) -> str:
    return "time/" + key.removeprefix("time_") if key.startswith("time_") else TAGS.get(key, key)


def scalars(record: dict) -> dict[str, float]:
    """The record's numbers by tag; null (a metric never evaluated) and the phase/step keys are not scalars."""
    return {tag(key): float(value) for key, value in record.items()
            if key not in ("phase", "step") and isinstance(value, (int, float)) and not isinstance(value, bool)}


def has_events(store) -> bool:
    if store.local is not None:
        return any((store.local / FOLDER).glob(EVENT_FILES))
    return store.exists(FOLDER)


class Uploads:
    """Copies a local folder's event files into a remote run directory, each file once it has grown."""

    def __init__(self, store, folder: Path):
        self.store, self.folder = store, folder
        self.sizes: dict[str, int] = {}

    def push(self) -> None:
        for path in sorted(self.folder.glob(EVENT_FILES)):
            data = path.read_bytes()
            if self.sizes.get(path.name) != len(data):  # event files only grow
                self.store.write_bytes(f"{FOLDER}/{path.name}", data)
                self.sizes[path.name] = len(data)


class TensorBoardEvents:
    """Writes each metrics record as scalars at the next global step, flushed (and uploaded) at once."""

    def __init__(self, writer, first_step: int, folder: Path, uploads: Uploads | None):
        self.writer, self.next_step, self.folder, self.uploads = writer, first_step, folder, uploads

    @classmethod
    def open(cls, store, first_step: int, done: Sequence[dict]) -> TensorBoardEvents | None:
        """None without TensorBoard (the caller says MISSING). A resumed run (`first_step` records kept)
        purges the events of later steps, which are redone; a run that has no events yet (TensorBoard
        was missing before) gets those of its kept records `done` first."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        backfill = not has_events(store)
        if store.local is not None:
            folder, uploads = store.local / FOLDER, None
        else:  # TensorBoard writes files; they reach the store by upload
            folder = Path(tempfile.mkdtemp(prefix="seqgan-tensorboard-"))
            uploads = Uploads(store, folder)
        writer = SummaryWriter(str(folder), purge_step=None if backfill else first_step)
        events = cls(writer, first_step, folder, uploads)
        if backfill:
            for position, record in enumerate(done):
                events.write(record, position)
            events.flush()
        return events

    def record(self, record: dict) -> None:
        self.write(record, self.next_step)
        self.next_step += 1
        self.flush()

    def write(self, record: dict, step: int) -> None:
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, global_step=step)

    def flush(self) -> None:
        self.writer.flush()
        if self.uploads is not None:
            self.uploads.push()

    def close(self) -> None:
        self.writer.close()
        if self.uploads is not None:
            try:
                self.uploads.push()
            finally:
                shutil.rmtree(self.folder, ignore_errors=True)
