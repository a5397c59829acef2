"""A cluster address where nothing listens fails within seconds, naming the address and where it
came from (Ray itself would retry it for minutes)."""
import json
import socket
import subprocess
import sys
import time

import pytest

from run_support import ROOT

# Both forms in one process: --address, then RAY_ADDRESS.
BOTH_FORMS = """
import json, os, sys
from learner.cli import main
train = ["train", "--config", "deploy/configs/smoke.yaml", "--set", "rollout.num_workers=2"]
given = main([*train, "--address", sys.argv[1], "--out", sys.argv[2] + "/a"])
os.environ["RAY_ADDRESS"] = sys.argv[1]
from_env = main([*train, "--out", sys.argv[2] + "/b"])
print(json.dumps([given, from_env]))
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.mark.smoke
def test_an_unreachable_cluster_fails_fast_with_a_clear_error(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", BOTH_FORMS, address, str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[-1]) == [2, 2], result.stderr[-3000:]
    assert time.monotonic() - started < 60  # two tries and the imports; Ray alone retries for minutes
    for where in ("--address", "RAY_ADDRESS"):
        assert f"seqgan: error: cannot reach the Ray cluster at {address} ({where}): Connection refused" \
            in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())
