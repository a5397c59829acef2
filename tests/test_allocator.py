"""Freed rollout memory is reused without page faults once `reuse_freed_memory` has run."""
import platform
import subprocess
import sys

import pytest

# Counts the minor page faults of three reward computations of one work unit, in a fresh process
# (allocator settings are per process), with or without the settings applied first.
COUNT_FAULTS = """
import resource, sys, torch
from seqgan.allocator import reuse_freed_memory
if sys.argv[1] == "tuned":
    assert reuse_freed_memory()
torch.set_num_threads(1)
from rewards.rollout import unit_reward_sums
from rewards.units import split_rewards
from seqgan.models import Discriminator, Generator
from seqgan.seeding import uniforms
from seqgan.sizing import ResolvedUnits
sizes = ResolvedUnits(16, 8, 16, chunk_tokens=262144, piece_samples=16, score_rows=256, sample_rows=128)
torch.manual_seed(0)
generator = Generator(200, 32, 32, 20).init_normal_(1.0).eval()
disc = Discriminator(200, 32, [1, 2, 3, 5, 10, 20], [20, 40, 40, 40, 20, 32], 0.25).init_paper_().eval()
samples = generator.sample(uniforms(1, (16, 20)))
unit = split_rewards(16, 20, 16, 16, 8, 16, 0, 0)[0]
unit_reward_sums(generator, disc, samples, unit, sizes)  # first use: pages fault in once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    unit_reward_sums(generator, disc, samples, unit, sizes)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", COUNT_FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.unit
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc's mallopt")
def test_rollouts_reuse_freed_memory_instead_of_faulting_it_in_again():
    default, tuned = page_faults("default"), page_faults("tuned")
    # Measured: 14,000-30,000 faults by default, 300-600 tuned (4 KiB pages), by machine and versions.
    assert tuned * 10 < default, (tuned, default)
