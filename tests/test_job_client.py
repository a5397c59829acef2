"""`seqgan job` without a cluster: the run directory check of `job submit` (both flag forms), and
what Ctrl-C while following a job's logs says."""
import signal

import pytest

from learner.cli import main
from learner.commands import jobs


@pytest.mark.unit
@pytest.mark.parametrize("command", [["train", "--out", "/abs/run"], ["train", "--out=/abs/run"],
                                     ["train", "--resume=s3://bucket/run"], ["report", "runs/x"]])
def test_absolute_or_uri_run_directories_pass_in_either_form(command):
    jobs.check_outputs_survive(command)


@pytest.mark.unit
@pytest.mark.parametrize("command", [["train", "--out=runs/x"], ["train", "--resume", "runs/x"], ["train", "--out"]])
def test_relative_run_directories_are_refused_in_either_form(command):
    with pytest.raises(ValueError, match="is relative"):
        jobs.check_outputs_survive(command)


class FollowedJob:
    """A job server whose log stream is cut by Ctrl-C."""

    def submit_job(self, **kwargs):
        return kwargs["submission_id"]

    def get_job_info(self, submission_id):
        return None

    async def tail_job_logs(self, submission_id):
        yield "adv 1/3\n"
        raise KeyboardInterrupt


@pytest.mark.unit
def test_ctrl_c_while_following_says_the_job_keeps_running(monkeypatch, capsys):
    monkeypatch.setattr(jobs, "job_client", lambda address: FollowedJob())
    status = main(["job", "submit", "--submission-id", "long-9", "--", "train", "--out", "/abs/run"])
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGINT
    assert "job long-9 keeps running on the cluster" in err and "seqgan job stop long-9" in err, err
    assert "--resume" not in err
