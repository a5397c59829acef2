"""Monte Carlo rewards of SeqGAN: work units, the batched rollout engine and a reference engine."""
