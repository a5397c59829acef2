"""A run directory on a real S3 endpoint: moto's standalone server on 127.0.0.1, reached through
pyarrow's S3 filesystem (which honours AWS_ENDPOINT_URL). Train, kill -9, resume, report and plot
against s3://bucket/run give the records of a local run that was never interrupted."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from run_support import ROOT, comparable, records, start

pytest.importorskip("moto.server", reason="the S3 test needs moto's server: pip install 'moto[server]'")
pyarrow_fs = pytest.importorskip("pyarrow.fs")

pytestmark = pytest.mark.smoke
BUCKET = "seqgan-test"
# The smoke preset cut short, a checkpoint and a record's evaluation every step.
SHORT = ["train.mle_epochs=3", "train.disc_pretrain_rounds=1", "train.adv_iterations=2", "train.checkpoint_every=1",
         "train.eval_every=1", "data.num_train=64", "data.num_test=32", "train.eval_samples=64",
         "rollout.num_workers=0"]
KILL_AFTER = 2  # records on S3 when the kill comes (of 6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """A moto S3 server with an empty bucket; yields the environment a client uses."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.2)
        bucket_maker(port).create_dir(BUCKET)
        yield env, port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def bucket_maker(port: int):
    return pyarrow_fs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key="testing",
                                   secret_key="testing", region="us-east-1", allow_bucket_creation=True)


def s3_records(port: int, key: str) -> list[dict]:
    fs = bucket_maker(port)
    if fs.get_file_info(key).type != pyarrow_fs.FileType.File:
        return []
    with fs.open_input_stream(key) as stream:
        return [json.loads(line) for line in stream.read().decode().splitlines()]


def seqgan(*args, env, log):
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "learner.cli", *map(str, args)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def test_train_kill_resume_report_and_plot_on_s3_match_a_local_run(s3_env, tmp_path, monkeypatch, capsys):
    from learner.cli import main

    env, port = s3_env
    uri = f"s3://{BUCKET}/run"
    train = ["train", "--config", "deploy/configs/smoke.yaml", "--set", *SHORT]
    local = start(*train, "--out", tmp_path / "local", log=tmp_path / "local.txt")  # alongside the S3 run
    first = seqgan(*train, "--out", uri, env=env, log=tmp_path / "first.txt")
    deadline = time.monotonic() + 300
    while len(s3_records(port, f"{BUCKET}/run/metrics.jsonl")) < KILL_AFTER:
        assert first.poll() is None, (tmp_path / "first.txt").read_text()[-3000:]
        assert time.monotonic() < deadline, "no records reached S3"
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=60)
    resumed = seqgan("train", "--resume", uri, env=env, log=tmp_path / "second.txt")
    assert resumed.wait(timeout=300) == 0, (tmp_path / "second.txt").read_text()[-3000:]
    assert "resumed from step-" in (tmp_path / "second.txt").read_text()
    assert local.wait(timeout=300) == 0, (tmp_path / "local.txt").read_text()[-3000:]
    on_s3 = s3_records(port, f"{BUCKET}/run/metrics.jsonl")
    assert comparable(on_s3) == comparable(records(tmp_path / "local")) and len(on_s3) == 6

    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(key, env[key])
    assert main(["report", uri, str(tmp_path / "local")]) == 0  # in this process: no start-up to wait for
    table = capsys.readouterr().out
    rows = [line.split("|")[3:-1] for line in table.splitlines()[2:]]
    assert len(rows) == 2 and rows[0] == rows[1] and all(cell.strip() for cell in rows[0]), table
    assert main(["plot", uri, "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
