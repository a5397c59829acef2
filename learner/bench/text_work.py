"""Text batches for `seqgan bench rollout --config`: the models and samples it measures (also built in
the peak-memory child process), and the work one reward computation does, counted."""
from __future__ import annotations

import torch

from learner.run.checkpoint import load_checkpoint, run_config
from learner.run.store import RunStore
from rewards.rollout import unit_reward_sums
from rewards.scoring import as_scorer
from seqgan.config import Config
from seqgan.config_files import load_config
from seqgan.data.real_data import real_data
from seqgan.models import build_discriminator, build_generator
from seqgan.packing import load_into
from seqgan.seeding import derive_seed, uniforms


def text_config(config_path: str, run: str | None, overrides: list[str]) -> Config:
    """The run's config snapshot with --run (the models must fit it), else the --config file."""
    return run_config(RunStore(run)) if run else load_config(config_path, list(overrides))


def text_setup(spec: dict, device: torch.device):
    """(config, rollout policy, D, samples [B, T]) for spec {config, run, overrides, batch}."""
    config = text_config(spec["config"], spec["run"], spec["overrides"])
    policy = build_generator(config.model, config.generator).to(device).eval()
    disc = build_discriminator(config.model, config.discriminator).to(device).eval()
    batch, seq_len = spec["batch"], config.model.seq_len
    if spec["run"]:
        state = load_checkpoint(RunStore(spec["run"])).state["models"]
        load_into(policy, state["rollout"])
        load_into(disc, state["discriminator"])
        generator = build_generator(config.model, config.generator).to(device).eval()
        load_into(generator, state["generator"])
        samples = generator.sample(uniforms(derive_seed(config.train.seed, "pg_batch", 0), (batch, seq_len), device))
    else:
        torch.manual_seed(config.train.seed)
        policy.init_normal_(config.generator.init_std)
        disc.init_paper_()
        train = real_data(config)[0]
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.train.seed))
        samples = train[order[:batch]].to(device)
    return config, policy, disc, samples


def work_counts(policy, disc, samples: torch.Tensor, units, sizes, dense: bool) -> tuple[dict[str, int], list]:
    """Completions scored and LSTM rows stepped (prefix passes and completions) by one reward
    computation, counted on the calls themselves; and the units' reward sums."""
    counted = {"completions": 0, "lstm_steps": 0}
    scorer = as_scorer(disc)
    advance, score = policy.advance, scorer.score

    def counting_advance(inputs, state):
        counted["lstm_steps"] += len(inputs)
        return advance(inputs, state)

    def counting_score(completions, *args):
        counted["completions"] += len(completions)
        return score(completions, *args)

    policy.advance, scorer.score = counting_advance, counting_score
    try:
        sums = [unit_reward_sums(policy, scorer, samples, unit, sizes, dense) for unit in units]
    finally:
        del policy.advance  # the class's method again
    return counted, sums


def skipped_shares(fast: dict[str, int], dense: dict[str, int]) -> dict[str, float]:
    """The share of the dense engine's completions and LSTM steps (work_counts) the fast engine skips."""
    return {f"{key}_skipped": round(1 - fast[key] / dense[key], 4) for key in dense}
