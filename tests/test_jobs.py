"""End to end against a real Ray head: `seqgan job submit` runs the smoke preset as a Ray job, and a
job stopped with `seqgan job stop` continues with `--resume` to the records of an uninterrupted run.

The head is `ray start --head --block` in the background, on 127.0.0.1 and free ports, with its own
temp dir and its own token; it is stopped by its PID (never with `ray stop`, which would end every
Ray on the machine).
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from run_support import ROOT, TINY_SMOKE, comparable, records, start

pytestmark = [pytest.mark.ray, pytest.mark.smoke, pytest.mark.jobs]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def head():
    """A Ray head with a job server, on loopback; yields the environment a client uses."""
    import psutil

    temp = Path(tempfile.mkdtemp(prefix="sgray-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    token = temp / "auth_token"
    token.write_text(secrets.token_hex(32))
    gcs, dashboard, client, agent_http, agent_grpc, runtime_env, metrics, node_manager, object_manager = \
        free_ports(9)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    command = ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs}",
               "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--include-dashboard=true",
               f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent_http}",
               f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
               f"--metrics-export-port={metrics}", f"--node-manager-port={node_manager}",
               f"--object-manager-port={object_manager}", "--num-cpus=4", f"--temp-dir={temp}",
               "--disable-usage-stats"]
    log = (temp / "head.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    client_env = {**os.environ, "RAY_AUTH_TOKEN_PATH": str(token), "RAY_API_SERVER_ADDRESS": address}
    client_env.pop("RAY_AUTH_MODE", None)  # seqgan job turns it on when it finds a token
    try:
        wait_for_job_server(address, process, temp / "head.log")
        yield client_env
    finally:
        children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        _, alive = psutil.wait_procs(children, timeout=15)
        for child in alive:
            child.kill()
        log.close()


def wait_for_job_server(address: str, process, log: Path, timeout: float = 120) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the head exited:\n{log.read_text()[-3000:]}"
        try:
            urllib.request.urlopen(f"{address}/api/version", timeout=2)
            return
        except Exception as error:  # 401 means it is up (and wants the token)
            if "401" in str(error):
                return
        time.sleep(1)
    raise AssertionError(f"no job server at {address}:\n{log.read_text()[-3000:]}")


def seqgan(*args, env, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "learner.cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def job_status(submission_id: str, env) -> str:
    out = seqgan("job", "status", submission_id, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split(":", 1)[1].split()[0]


def wait_status(submission_id: str, env, wanted: set[str], timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(submission_id, env)
        if status in wanted:
            return status
        time.sleep(1)
    raise AssertionError(f"job {submission_id} never reached {wanted}")


def test_a_submitted_smoke_job_succeeds_and_writes_its_run(head, tmp_path):
    run = tmp_path / "smoke"
    out = seqgan("job", "submit", "--submission-id", "smoke-1", "--", "train", "--config",
                 "deploy/configs/smoke.yaml", "--out", run, env=head)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "submitted smoke-1" in out.stdout and "job smoke-1: SUCCEEDED" in out.stdout
    assert len([r for r in records(run) if r["phase"] == "adv"]) == 3
    assert (run / "checkpoints" / "latest").is_file() and (run / "summary.json").is_file()
    logs = seqgan("job", "logs", "smoke-1", env=head).stdout
    assert "adv 3/3" in logs and f"run directory {run}" in logs  # one line per record; where outputs are


def test_a_relative_run_directory_is_refused_before_submitting(head):
    out = seqgan("job", "submit", "--", "train", "--config", "deploy/configs/smoke.yaml", "--out", "runs/x", env=head)
    assert out.returncode == 2 and "relative" in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = seqgan("job", "submit", "--", "train", "--config", "deploy/configs/smoke.yaml", env=head)
    assert out.returncode == 2 and "needs --out" in out.stderr, out.stderr


def test_a_stopped_job_resumed_with_its_run_directory_matches_an_uninterrupted_run(head, tmp_path):
    longer = ["--set", "train.adv_iterations=40", "train.checkpoint_every=5"]
    reference = tmp_path / "reference"
    process = start("train", "--config", "deploy/configs/smoke.yaml", *longer, "rollout.num_workers=0",
                    "--out", reference, log=tmp_path / "reference.txt")
    run = tmp_path / "stopped"
    out = seqgan("job", "submit", "--no-wait", "--submission-id", "long-1", "--", "train", "--config",
                 "deploy/configs/smoke.yaml", *longer, "--out", run, env=head)
    assert out.returncode == 0 and "submitted long-1" in out.stdout, out.stderr
    deadline = time.monotonic() + 600
    while not ((run / "metrics.jsonl").exists() and '"adv"' in (run / "metrics.jsonl").read_text()):
        assert time.monotonic() < deadline and job_status("long-1", head) in {"PENDING", "RUNNING"}
        time.sleep(0.5)
    assert seqgan("job", "stop", "long-1", env=head).returncode == 0
    assert wait_status("long-1", head, {"STOPPED", "SUCCEEDED", "FAILED"}) == "STOPPED"
    logs = seqgan("job", "logs", "long-1", env=head).stdout
    assert f"seqgan train --resume {run}" in logs, logs[-3000:]
    stopped_at = len(records(run))
    assert stopped_at < 4 + 2 + 40, "the job finished before it was stopped"
    out = seqgan("job", "submit", "--submission-id", "long-2", "--", "train", "--resume", run, env=head)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert process.wait(timeout=600) == 0
    assert comparable(records(run)) == comparable(records(reference))


def test_a_sweep_submitted_as_a_job_runs_every_point_and_reports(head, tmp_path):
    out = tmp_path / "sweep"
    sweep = ["sweep", "--config", "deploy/configs/smoke.yaml", "--grid", "train.seed=1,2", "--set", *TINY_SMOKE]
    refused = seqgan("job", "submit", "--", *sweep, "--out", "runs/sweep", env=head)
    assert refused.returncode == 2 and "relative" in refused.stderr, refused.stderr
    done = seqgan("job", "submit", "--submission-id", "sweep-1", "--", *sweep, "--out", out, env=head)
    assert done.returncode == 0 and "job sweep-1: SUCCEEDED" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    for seed in (1, 2):
        assert len(records(out / f"train.seed={seed}")) == 2 + 1 + 2
        assert (out / f"train.seed={seed}" / "summary.json").is_file()
    table = (out / "report.md").read_text()
    assert "| train.seed=1 |" in table and "| seqgan | 2 | 1, 2 |" in table
    assert "| seqgan | 2 | 1, 2 |" in seqgan("job", "logs", "sweep-1", env=head).stdout


# Several `seqgan job` commands in one fresh process (one start-up; Ray's client reads the token
# set-up once per process): each command's exit status and stderr.
COMMANDS = """
import contextlib, io, json, sys
from learner.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    results.append([status, err.getvalue()])
print(json.dumps(results))
"""


def test_unknown_and_taken_submission_ids_are_clean_errors(head, tmp_path):
    (tmp_path / "env.yaml").write_text("{}\n")  # nothing to install: the job only has to exist
    quick = ["job", "submit", "--no-wait", "--runtime-env", str(tmp_path / "env.yaml"), "--working-dir",
             str(tmp_path), "--submission-id", "taken-1", "--", "report", "/nonexistent"]
    unknown = [["job", "status", "no-such-job"], ["job", "logs", "no-such-job", "--follow"],
               ["job", "stop", "no-such-job"]]
    out = subprocess.run([sys.executable, "-c", COMMANDS, json.dumps([*unknown, quick, quick])], cwd=ROOT, env=head,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.splitlines()[-1])
    for command, (status, err) in zip(unknown, results):
        assert status == 2 and "seqgan: error: no job 'no-such-job' on the cluster" in err, (command, err)
    assert results[3][0] == 0, results[3][1]
    status, err = results[4]
    assert status == 2 and "seqgan: error: a job 'taken-1' already exists on the cluster" in err, err
    assert all("Traceback" not in err for _, err in results)
