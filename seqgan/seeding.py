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

SAMPLE_CHUNK = 4096  # sequences drawn at a time by `seqgan sample` and `seqgan frontier`: memory stays flat


def sample_draws(seed: int, count: int, length: int, chunk: int = SAMPLE_CHUNK):
    """The uniforms [rows, length] of `seqgan sample --seed` for `count` sequences, `chunk` rows at a
    time: one CPU generator across chunks fills them in order, so together they are the draws
    uniforms(derive_seed(seed, "sample_cli"), (count, length)) makes in one call."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "sample_cli"))
    for start in range(0, count, chunk):
        yield torch.rand((min(chunk, count - start), length), generator=generator, dtype=torch.float64)
