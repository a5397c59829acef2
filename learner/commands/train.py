"""`seqgan train`: Algorithm 1, inline (0 workers) or with Ray rollout actors; a new run, or
`--resume RUN_DIR` to continue one from its latest checkpoint."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from learner.commands.common import add_overrides, keep_local_ray_on_loopback
from learner.stopping import Interrupted
from seqgan.config import Config, ConfigError, to_dict
from seqgan.config_files import dump_config, load_config

# Keys that say where a run's work happens, not what it computes (results are the same for any
# number of workers): a resumed run may change them.
PLACEMENT = {"rollout.num_workers", "rollout.num_cpus", "rollout.num_gpus", "rollout.max_retries",
             "rollout.timeout_s", "learner.num_gpus", "learner.num_cpus", "learner.max_restarts", "ray.address",
             "ray.num_cpus"}


def _flat(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resumed_config(saved: Config, config_file: str | None, overrides: list[str], where: str) -> Config:
    """The saved config with this session's placement: `--config` and `--set` may change only the
    PLACEMENT keys; anything else would make a different run."""
    if config_file is None:
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "config.yaml"
            copy.write_text(dump_config(saved))
            asked = load_config(copy, overrides)
    else:
        asked = load_config(config_file, overrides)
    before, after = _flat(to_dict(saved)), _flat(to_dict(asked))
    changed = [key for key in before if before[key] != after[key] and key not in PLACEMENT]
    if changed:
        key = changed[0]
        raise ConfigError(f"run {where!r} was made with {key} = {before[key]!r}, this asks for {after[key]!r}: "
                          f"a resumed run keeps its config (only {', '.join(sorted(PLACEMENT))} may change); "
                          "start a new run with --out instead")
    return asked


def run_store(args):
    """The run directory asked for, checked before anything is locked or written: a new run's
    (--out) or an existing one (--resume)."""
    from learner.run.store import RunStore, check_location, require_run_folder

    resuming = args.resume is not None
    flag, location = ("--resume", args.resume) if resuming else ("--out", args.out)
    if not location.strip():
        raise ValueError(f"{flag} {location!r} is empty: give a run directory (a path, or a URI such as "
                         "s3://bucket/run); an empty one would write the run into the current directory")
    check_location(location)
    require_run_folder(location)
    run = RunStore(location)
    if resuming and not run.exists(""):
        raise FileNotFoundError(f"--resume {location!r}: no such run directory")
    return run


def open_run(args, run):
    """(config, checkpoint or None) for a new run or a resumed one, checked before anything starts
    (by the run's owner: learner/run/owner.py)."""
    from learner.run.checkpoint import check_ahead, has_checkpoint, load_checkpoint, run_config

    if args.resume is None:
        return load_config(args.config, args.set), None
    location = args.resume
    if not run.is_file("config.yaml"):
        raise ValueError(f"--resume {location!r}: the directory holds no run to resume (no config.yaml)")
    if run.exists("summary.json"):
        raise ValueError(f"--resume {location!r}: the run has finished (it has a summary.json); "
                         "start a new run with --out")
    if not has_checkpoint(run):
        raise ValueError(f"--resume {location!r}: the run stopped before its first checkpoint, so there is "
                         "nothing to resume; start it again with a new --out")
    checkpoint = load_checkpoint(run)  # checks every file it reads, config.yaml included, against its manifest
    check_ahead(run, checkpoint.name)
    return resumed_config(run_config(run), args.config, args.set, location), checkpoint


def watchers(config: Config, run):
    """watch(kept records): progress on the terminal (bars) or one line per record elsewhere, and
    TensorBoard event files beside metrics.jsonl (when TensorBoard is installed)."""
    from learner.methods import method_for
    from learner.watch.progress import Progress
    from learner.watch.tensorboard import MISSING, TensorBoardEvents

    def watch(kept: list[dict]) -> list:
        t = config.train
        totals = {"mle": t.mle_epochs, "disc": method_for(config).pretrain_rounds(), "adv": t.adv_iterations}
        events = TensorBoardEvents.open(run, len(kept), kept)
        if events is None:
            print(f"seqgan: {MISSING}", file=sys.stderr)
        return [Progress(totals, sys.stderr, kept), *([events] if events else [])]
    return watch


def joins_cluster(config: Config, address: str | None) -> bool:
    return bool(address or config.ray.address or os.environ.get("RAY_ADDRESS"))


def require_memory(config: Config, address: str | None) -> None:
    """Refuse, before anything is allocated, a run that cannot fit this machine: inline, the
    learner and one worker run here; on a local Ray, the learner and every worker; a joined
    cluster places them on its nodes, and only the driver's data is here."""
    from seqgan.footprint import require_fits

    workers = config.rollout.num_workers
    if workers == 0:
        require_fits(config, workers_here=1)
    elif joins_cluster(config, address):
        require_fits(config, workers_here=0, learner_here=False)
    else:
        require_fits(config, workers_here=workers)


def train_run(config: Config, run, checkpoint, address: str | None, watch) -> dict:
    """Algorithm 1 for the run, inline (0 workers) or with Ray actors; returns the summary. A sweep's
    trials take this same path."""
    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from learner.learner import Learner
    from learner.methods import method_for
    from learner.threads import learner_threads

    torch.set_num_threads(learner_threads(config))  # as the learner actor, so both modes round alike
    if config.rollout.num_workers == 0:  # inline: one process, no Ray
        learner = Learner(config)  # the worker shares the learner's device: a GPU when there is one
        pool = InlinePool(config, method_for(config), str(learner.device))
        return Trainer(config, run, learner, pool, checkpoint, watch).train()
    if not joins_cluster(config, address):
        keep_local_ray_on_loopback()
    from learner.remote import ray_session
    with ray_session(config, address) as (learner, pool):
        return Trainer(config, run, learner, pool, checkpoint, watch).train()


def cmd_train(args) -> None:
    from learner.run.owner import own_run

    run = run_store(args)
    with own_run(run):
        config, checkpoint = open_run(args, run)
        require_memory(config, args.address)
        print(f"seqgan: run directory {run}" + (f", resumed from {checkpoint.name}" if checkpoint else ""),
              file=sys.stderr, flush=True)
        try:
            summary = train_run(config, run, checkpoint, args.address, watchers(config, run))
        except KeyboardInterrupt as interrupt:  # stopped at once: the last checkpoint written still resumes
            raise Interrupted.advising(interrupt, "continue from the last checkpoint with: seqgan train "
                                       f"--resume {run}") from None
    print(f"seqgan: finished; metrics, checkpoints and summary.json are in {run}", file=sys.stderr)
    print(json.dumps(summary))


def register(sub) -> None:
    train = sub.add_parser("train", help="run Algorithm 1 (MLE, D pre-training, adversarial)")
    train.add_argument("--config", help="YAML preset (deploy/configs/*.yaml); defaults otherwise")
    add_overrides(train)
    target = train.add_mutually_exclusive_group()
    target.add_argument("--out", default="runs/latest",
                        help="run directory: a path or a URI such as s3://bucket/run (default: runs/latest)")
    target.add_argument("--resume", metavar="RUN_DIR",
                        help="continue this run from its latest checkpoint (its own config; --set may change "
                             "only where the work runs, e.g. rollout.num_workers)")
    train.add_argument("--address", help="Ray cluster to join (else RAY_ADDRESS, else a local Ray)")
    train.set_defaults(func=cmd_train)
