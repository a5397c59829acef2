"""Watching a run: progress lines and bars, TensorBoard events, and `seqgan plot`."""
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto.event_pb2 import SessionLog

import learner.watch.progress
from learner.run.log import run_records
from learner.run.store import run_labels
from learner.watch.plot import curves
from learner.watch.progress import Progress
from learner.watch.tensorboard import MISSING, TensorBoardEvents

ROOT = Path(__file__).resolve().parents[1]
TOTALS = {"mle": 2, "disc": 0, "adv": 3}
RECORDS = [
    {"phase": "mle", "step": 0, "g_loss": 2.34567, "time_mle": 1.5},
    {"phase": "mle", "step": 1, "g_loss": 2.1, "nll_test": 7.25, "nll_oracle": 9.1234, "time_mle": 1.0,
     "time_eval": 0.25},
    {"phase": "disc", "step": 0, "d_loss": 0.6, "d_acc": 0.7, "time_disc": 2.0},
    {"phase": "adv", "step": 0, "g_loss": -3.2149, "mean_reward": 0.041234, "d_loss": 0.5, "time_pg": 4.0,
     "time_rollout": 0.125},
    {"phase": "adv", "step": 1, "g_loss": -3.0, "mean_reward": 0.05, "nll_oracle": 8.9121, "d_acc_heldout": 0.612,
     "nll_test": 7.5, "units_rerun": 0, "time_pg": 1.0},
]


class Recorded(io.StringIO):
    """A pipe that counts its flushes."""
    flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def bars(monkeypatch):
    """The tqdm bars Progress makes, in order."""
    made = []

    class Bar(learner.watch.progress.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(learner.watch.progress, "tqdm", Bar)
    return made


@pytest.mark.unit
def test_a_pipe_gets_one_flushed_line_per_record():
    stream = Recorded()
    progress = Progress(TOTALS, stream)
    for record in RECORDS:
        progress.record(record)
    progress.close()
    assert stream.getvalue().splitlines() == [  # disc: no D pre-training rounds planned, never shown
        "mle 1/2 g_loss=2.346 (1.5 s)",
        "mle 2/2 g_loss=2.1 nll_oracle=9.123 nll_test=7.250 (1.25 s)",
        "adv 1/3 g_loss=-3.215 d_loss=0.5 mean_reward=0.0412 (4.12 s)",
        "adv 2/3 g_loss=-3 mean_reward=0.05 nll_oracle=8.912 nll_test=7.500 d_acc_heldout=0.61 units_rerun=0 (1 s)",
    ]
    assert stream.flushes >= 4


@pytest.mark.unit
def test_a_terminal_gets_one_bar_per_phase(bars):
    stream = Terminal()
    progress = Progress(TOTALS, stream)
    for record in RECORDS[:3]:
        progress.record(record)
    assert [(b.desc, b.n, b.total) for b in bars] == [("mle", 2, 2)]
    for record in RECORDS[3:]:
        progress.record(record)
    progress.close()
    assert [(b.desc, b.n, b.total) for b in bars] == [("mle", 2, 2), ("adv", 2, 3)]
    assert bars[0].postfix == "g_loss=2.1, nll_oracle=9.123, nll_test=7.250"
    assert "nll_oracle=8.912" in bars[1].postfix  # evaluated in this phase
    assert "mle 1/2" not in stream.getvalue() and "| 2/3 [" in stream.getvalue()


@pytest.mark.unit
def test_a_resumed_run_starts_its_bars_where_it_is(bars):
    progress = Progress({"mle": 2, "disc": 1, "adv": 5}, Terminal(), done=RECORDS[:4])
    progress.record(RECORDS[4])
    assert (bars[0].desc, bars[0].n, bars[0].total) == ("adv", 2, 5)
    progress.record({"phase": "adv", "step": 2, "g_loss": -2.5})
    progress.close()
    assert len(bars) == 1 and bars[0].n == 3
    assert "mean_reward=0.05" in bars[0].postfix and "nll_oracle=8.912" in bars[0].postfix


class LocalStore:
    def __init__(self, root: Path):
        self.local = root


class MemoryStore:
    """A run directory elsewhere: bytes by name."""
    local = None

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def write_bytes(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def read_bytes(self, name: str) -> bytes:
        return self.files[name]

    def exists(self, name: str) -> bool:
        return any(key == name or key.startswith(name + "/") for key in self.files)


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, pytest.approx(e.value)) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


def write_events(store, records, first_step=0, done=()):
    events = TensorBoardEvents.open(store, first_step, list(done))
    for record in records:
        events.record(record)
    events.close()


@pytest.mark.unit
def test_events_hold_each_record_at_its_position(tmp_path):
    write_events(LocalStore(tmp_path), RECORDS)
    found = scalars(tmp_path / "tensorboard")
    assert found["loss/generator"] == [(0, 2.34567), (1, 2.1), (3, -3.2149), (4, -3.0)]
    assert found["nll/oracle"] == [(1, 9.1234), (4, 8.9121)]
    assert found["nll/test"] == [(1, 7.25), (4, 7.5)]
    assert found["discriminator/acc_heldout"] == [(4, 0.612)]
    assert found["reward/mean"] == [(3, 0.041234), (4, 0.05)]
    assert found["time/mle"] == [(0, 1.5), (1, 1.0)]
    assert found["time/rollout"] == [(3, 0.125)]
    assert found["loss/discriminator"] == [(2, 0.6), (3, 0.5)]


@pytest.mark.unit
def test_a_resumed_run_replaces_the_events_of_redone_steps(tmp_path):
    store = LocalStore(tmp_path)
    write_events(store, RECORDS)  # then the run stopped; its checkpoint kept the first 3 records
    redone = [{"phase": "adv", "step": 0, "g_loss": -1.0}, {"phase": "adv", "step": 1, "g_loss": -2.0}]
    write_events(store, redone, first_step=3, done=RECORDS[:3])
    assert scalars(tmp_path / "tensorboard")["loss/generator"] == [(0, 2.34567), (1, 2.1), (3, -1.0), (4, -2.0)]
    resumed_file = sorted((tmp_path / "tensorboard").iterdir())[-1]
    starts = [e.step for e in EventFileLoader(str(resumed_file)).Load()
              if e.HasField("session_log") and e.session_log.status == SessionLog.START]
    assert starts == [3]


@pytest.mark.unit
def test_a_run_without_events_gets_its_kept_records_first(tmp_path):
    write_events(LocalStore(tmp_path), RECORDS[4:], first_step=4, done=RECORDS[:4])  # TensorBoard came later
    found = scalars(tmp_path / "tensorboard")
    assert found["loss/generator"] == [(0, 2.34567), (1, 2.1), (3, -3.2149), (4, -3.0)]
    assert found["nll/oracle"] == [(1, 9.1234), (4, 8.9121)]


@pytest.mark.unit
def test_a_remote_run_gets_its_event_files_by_upload(tmp_path):
    store = MemoryStore()
    events = TensorBoardEvents.open(store, 0, [])
    events.record(RECORDS[0])
    (name, first_upload), = store.files.items()
    assert name.startswith("tensorboard/events.out.tfevents.")
    for record in RECORDS[1:]:
        events.record(record)
    assert len(store.files[name]) > len(first_upload)  # uploaded again after each record
    events.close()
    assert not events.folder.exists()
    (tmp_path / name).parent.mkdir()
    (tmp_path / name).write_bytes(store.files[name])
    assert scalars(tmp_path / "tensorboard")["nll/oracle"] == [(1, 9.1234), (4, 8.9121)]


@pytest.mark.unit
def test_without_tensorboard_there_are_no_events(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    assert TensorBoardEvents.open(LocalStore(tmp_path), 0, []) is None
    assert not (tmp_path / "tensorboard").exists()
    assert "pip install 'seqgan[watch]'" in MISSING


def seqgan(*args, before=""):
    code = f"import sys\n{before}\nfrom learner.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def fake_run(folder: Path, mle_epochs: int, adv_iterations: int, start: float) -> Path:
    """A run's metrics.jsonl, by hand: NLLs every 5 steps, D evaluated after pre-training and in adv."""
    records = [{"phase": "mle", "step": e, "g_loss": 3.0 - e / 50, "time_mle": 0.5,
                **({"nll_oracle": start - e / 20, "nll_test": start - 1 - e / 25} if (e + 1) % 5 == 0 else {})}
               for e in range(mle_epochs)]
    records += [{"phase": "disc", "step": r, "d_loss": 0.5, "time_disc": 1.0} for r in range(3)]
    records[-1]["d_acc_heldout"] = 0.9
    records += [{"phase": "adv", "step": i, "g_loss": -3.0, "mean_reward": 0.04, "time_pg": 1.0,
                 **({"nll_oracle": start - mle_epochs / 20 - i / 40, "nll_test": start - 1 - mle_epochs / 25,
                     "d_acc_heldout": 0.9 - i / 100} if (i + 1) % 5 == 0 else {})}
                for i in range(adv_iterations)]
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


@pytest.mark.unit
def test_curves_count_adversarial_iterations_on_from_the_mle_epochs():
    run = curves("run", RECORDS)  # 2 MLE epochs, 1 D round (not on G's axis), 2 adversarial iterations
    assert run.nll_oracle == [(2, 9.1234), (4, 8.9121)]
    assert run.nll_test == [(2, 7.25), (4, 7.5)]
    assert run.d_acc_heldout == [(2, 0.612)]
    assert run.adversarial_start == 2
    assert curves("mle only", RECORDS[:2]).adversarial_start is None


@pytest.mark.unit
def test_plot_reads_a_run_by_uri_without_the_line_being_written(tmp_path):
    run = fake_run(tmp_path / "run", 5, 5, 10.0)
    complete = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"phase": "adv", "st')
    assert run_records(run.as_uri()) == complete
    assert run_labels([run.as_uri(), str(tmp_path / "b")]) == ["run", "b"]
    assert run_labels([str(run), str(tmp_path / "x" / "run")]) == [str(run), str(tmp_path / "x" / "run")]


@pytest.mark.smoke
def test_plot_draws_the_learning_curves_of_two_runs(tmp_path):
    first = fake_run(tmp_path / "paper", 40, 30, 10.0)
    second = fake_run(tmp_path / "rate-0.8", 40, 20, 10.3)
    out = tmp_path / "curves.png"
    result = seqgan("plot", first, second, "--out", out)
    assert result.returncode == 0, result.stderr
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 800)  # IHDR: 8 x 8 inches at 100 dpi
    assert 20_000 < len(png) < 2_000_000


@pytest.mark.smoke
def test_plot_errors_name_the_run_or_the_file(tmp_path):
    run = fake_run(tmp_path / "run", 5, 5, 10.0)
    missing = seqgan("plot", run, tmp_path / "nowhere", "--out", tmp_path / "a.png")
    assert missing.returncode == 2 and "seqgan: error: no run at" in missing.stderr
    assert "nowhere" in missing.stderr and not (tmp_path / "a.png").exists()

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    empty = seqgan("plot", tmp_path / "empty", "--out", tmp_path / "a.png")
    assert empty.returncode == 2 and "empty" in empty.stderr and "has no records" in empty.stderr

    (tmp_path / "kept.png").write_bytes(b"mine")
    kept = seqgan("plot", run, "--out", tmp_path / "kept.png")
    assert kept.returncode == 2 and "already exists" in kept.stderr
    assert (tmp_path / "kept.png").read_bytes() == b"mine"

    no_matplotlib = seqgan("plot", run, "--out", tmp_path / "b.png", before="sys.modules['matplotlib'] = None")
    assert no_matplotlib.returncode == 2 and "pip install 'seqgan[watch]'" in no_matplotlib.stderr
    assert not (tmp_path / "b.png").exists()
