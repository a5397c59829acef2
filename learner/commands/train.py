"""`seqgan train`: Algorithm 1, inline (0 workers) or with Ray rollout actors."""
from __future__ import annotations

import json
import os

import torch

from learner.commands.common import add_overrides, keep_local_ray_on_loopback
from seqgan.config import load_config


def cmd_train(args) -> None:
    from actors.inline_pool import InlinePool
    from learner.driver import Trainer
    from learner.learner import Learner

    config = load_config(args.config, args.set)
    torch.set_num_threads(os.cpu_count() or 1)  # as the learner actor, so both modes round alike
    if config.rollout.num_workers == 0:  # inline: one process, no Ray
        learner = Learner(config)  # the worker shares the learner's device: a GPU when there is one
        summary = Trainer(config, args.out, learner, InlinePool(config, str(learner.device))).train()
    else:
        if not (args.address or config.ray.address or os.environ.get("RAY_ADDRESS")):
            keep_local_ray_on_loopback()
        from learner.remote import ray_session
        with ray_session(config, args.address) as (learner, pool):
            summary = Trainer(config, args.out, learner, pool).train()
    print(json.dumps(summary))


def register(sub) -> None:
    train = sub.add_parser("train", help="run Algorithm 1 (MLE, D pre-training, adversarial)")
    train.add_argument("--config", help="YAML preset (deploy/configs/*.yaml); defaults otherwise")
    add_overrides(train)
    train.add_argument("--out", default="runs/latest", help="run directory (default: runs/latest)")
    train.add_argument("--address", help="Ray cluster to join (else RAY_ADDRESS, else a local Ray)")
    train.set_defaults(func=cmd_train)
