"""learner.torch_threads: CPU kernels round by the thread count, so the learner runs with the count
asked for (auto: the usable cores) and summary.json records it, for the run to be repeated exactly."""
import json

import pytest
import torch

from learner.threads import usable_cores
from learner.cli import main
from learner.learner import Learner

SHORT = ["rollout.num_workers=0", "train.mle_epochs=1", "train.disc_pretrain_rounds=0", "train.adv_iterations=0",
         "train.eval_every=1"]


@pytest.mark.unit
@pytest.mark.parametrize("setting", ["1", "auto"])
def test_the_learner_runs_with_its_torch_threads_and_the_summary_records_them(tmp_path, monkeypatch, setting):
    seen = []
    honest = Learner.mle_epoch

    def watched(self, epoch, keep=1.0):
        seen.append(torch.get_num_threads())
        return honest(self, epoch, keep)

    monkeypatch.setattr(Learner, "mle_epoch", watched)
    expected = 1 if setting == "1" else usable_cores()
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if expected == 1 else 1)  # not what the run asks for
    try:
        assert main(["train", "--config", "deploy/configs/smoke.yaml", "--set", *SHORT,
                     f"learner.torch_threads={setting}", "--out", str(tmp_path / "run")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert seen == [expected]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["torch_threads"] == expected
