"""Seeds per work unit: every random draw of a run derives from (run seed, phase, iteration, unit),
so results do not depend on how many workers share the work."""
from __future__ import annotations

import numpy as np
import torch

PHASES = {"oracle": 0, "init": 1, "mle": 2, "disc": 3, "pg_batch": 4, "negatives": 5, "rollout": 6,
          "eval": 7, "test_data": 8, "train_data": 9, "sample_cli": 10, "ss": 11, "corpus_split": 12}


def derive_seed(run_seed: int, phase: str, *keys: int) -> int:
    """A 63-bit seed from a run seed, a named phase and integer keys (iteration, unit, ...)."""
    words = np.random.SeedSequence([int(run_seed), PHASES[phase], *map(int, keys)]).generate_state(2, np.uint32)
    return (int(words[0]) << 31 | int(words[1]) >> 1) & (2**63 - 1)


def uniforms(seed: int, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform [0, 1) draws from a CPU generator (identical on every device), moved to `device`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator, dtype=torch.float64).to(device)
