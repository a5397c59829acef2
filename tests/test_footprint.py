"""A run's memory is estimated from its config and refused, with exit status 2, before anything is
allocated when it cannot fit (seqgan/footprint.py)."""
import json
import subprocess
import sys

import pytest

from seqgan.config import ConfigError
from seqgan.config_files import load_config
from seqgan.footprint import GIB, require_fits, run_memory

SMOKE = "deploy/configs/smoke.yaml"
# Each would allocate gigabytes (tens to thousands) before failing.
TOO_LARGE = [["data.num_train=100000000"], ["model.seq_len=65536", "data.num_train=32768"],
             ["model.vocab_size=16777216"]]


@pytest.mark.unit
def test_the_estimate_grows_with_the_products_that_allocate():
    smoke = run_memory(load_config(SMOKE), workers_here=1)
    assert smoke.total < 2 * GIB  # the budget of one worker (1 GiB) and a little more
    data = run_memory(load_config(SMOKE, TOO_LARGE[0]), workers_here=1)
    assert data.data > 1e8 * 10 * 8 and data.models == smoke.models  # int64 ids alone are 8 GB
    long = run_memory(load_config(SMOKE, TOO_LARGE[1]), workers_here=1)
    assert long.data > 32768 * 65536 * 8 and long.step > smoke.step
    wide = run_memory(load_config(SMOKE, TOO_LARGE[2]), workers_here=1)
    assert wide.models > 2**24 * 2 * 16 * 4 * 5 and wide.step > 1024 * 10 * 2**24 * 4  # G's copies; eval logits
    assert run_memory(load_config(SMOKE), workers_here=3).rollouts == 3 * smoke.rollouts
    driver_only = run_memory(load_config(SMOKE), workers_here=0, learner_here=False)
    assert driver_only.total == driver_only.data == smoke.data


@pytest.mark.unit
@pytest.mark.parametrize("overrides", TOO_LARGE)
def test_a_run_past_this_machine_is_refused_naming_its_largest_part(overrides):
    with pytest.raises(ValueError, match=r"this run needs at least [\d.]+ GiB of memory \(data .*\), more than the "
                                         r"[\d.]+ GiB .*; the largest part, \w+, grows with .*: lower them"):
        require_fits(load_config(SMOKE, overrides), workers_here=1)
    require_fits(load_config(SMOKE), workers_here=1)


@pytest.mark.unit
def test_the_work_of_a_pg_batch_is_bounded():
    with pytest.raises(ConfigError, match=r"data.batch_size x rollout.num_rollouts must be at most 100000000, "
                                          r"got 1000000000000"):
        load_config(SMOKE, ["data.batch_size=1000000", "data.num_train=1000000", "rollout.num_rollouts=1000000",
                            "rollout.unit_rollouts=auto"])


# Runs in a subprocess whose address space is capped a little above what its imports take: an
# allocation of gigabytes fails there at once (never swapping the machine), so only a check made
# before allocating can exit 2 with a message.
UNDER_A_LIMIT = """
import json, resource, sys
import psutil, torch
from learner.cli import main
resource.setrlimit(resource.RLIMIT_AS, (psutil.Process().memory_info().vms + (3 << 30),) * 2)
statuses = [main(["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=0", *overrides,
                  "--out", f"{sys.argv[1]}/run{i}"]) for i, overrides in enumerate(json.loads(sys.argv[2]))]
print(json.dumps(statuses))
"""


@pytest.mark.smoke
def test_too_large_runs_are_refused_before_allocating_under_an_address_space_limit(tmp_path):
    from run_support import ROOT

    result = subprocess.run([sys.executable, "-c", UNDER_A_LIMIT, str(tmp_path), json.dumps(TOO_LARGE)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[-1]) == [2, 2, 2], result.stderr[-3000:]
    messages = [line for line in result.stderr.splitlines() if line.startswith("seqgan: error:")]
    assert len(messages) == 3 and all("left under this process's address-space limit" in m for m in messages), \
        result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir()), "a refused run wrote something"
