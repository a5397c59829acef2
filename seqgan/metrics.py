"""NLL metrics and the run's metrics log (one JSON object a line)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from seqgan.models import Generator


@torch.no_grad()
def nll_per_token(model: Generator, tokens: torch.Tensor, batch_size: int = 1024) -> float:
    """Mean negative log-likelihood in nats per token of `tokens` [N, T] under `model`."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(tokens), batch_size):
        total -= model.log_probs(tokens[start:start + batch_size].to(device)).double().sum().item()
    model.train(was_training)
    return total / tokens.numel()


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a metric never evaluated is null."""
    return value if math.isfinite(value) else None


class MetricsLog:
    """Appends records to RUN_DIR/metrics.jsonl, flushing each line, and keeps the run summary."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.best_nll_oracle = math.inf
        self.last_nll_oracle = math.nan

    def log(self, phase: str, step: int, **values) -> dict:
        record = {"phase": phase, "step": step, **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if "nll_oracle" in values:
            self.best_nll_oracle = min(self.best_nll_oracle, values["nll_oracle"])
            self.last_nll_oracle = values["nll_oracle"]
        return record

    def summary(self) -> dict:
        """Best and final NLL-oracle; null when never evaluated (token-file data has no oracle)."""
        return {"best_nll_oracle": finite_or_none(self.best_nll_oracle),
                "final_nll_oracle": finite_or_none(self.last_nll_oracle)}
