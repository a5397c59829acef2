"""Does SeqGAN learn? The adversarial phase must lower NLL-oracle below the MLE checkpoint."""
import pytest
import torch

from actors.inline_pool import InlinePool
from learner.driver import Trainer
from learner.learner import Learner
from seqgan.config import load_config

SMALL_ORACLE = [
    "rollout.num_workers=0", "model.vocab_size=100", "model.seq_len=20",
    "data.num_train=5000", "data.num_test=1000",
    "discriminator.embed_dim=32", "discriminator.filter_sizes=[1,2,3,4,5,8,10,15,20]",
    "discriminator.num_filters=[20,40,40,40,40,20,20,32,32]",
    "train.mle_epochs=30", "train.disc_pretrain_rounds=10", "train.disc_epochs=1",
    "train.adv_iterations=5", "train.d_steps=1", "train.eval_every=5", "train.eval_samples=2000",
    "rollout.update_rate=0.8",
]


@pytest.mark.slow
def test_adversarial_phase_beats_the_mle_checkpoint(tmp_path):
    torch.set_num_threads(2)
    config = load_config(None, SMALL_ORACLE)
    summary = Trainer(config, tmp_path, Learner(config), InlinePool(config)).train()
    # NLL-oracle is a mean over 40,000 tokens: its sampling noise is ~0.01 nats.
    assert summary["final_nll_oracle"] < summary["mle_nll_oracle"] - 0.05, summary
