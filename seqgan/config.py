"""One typed config tree: the schema (sections, keys, defaults) and its bounds.

Every number of a run is named here once. The chain is one-way: this schema <- sizing <- validation
<- config_files (YAML, overrides, dump).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from seqgan.errors import BadFileError


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


class ConfigFileError(ConfigError, BadFileError):
    """A config file that cannot be read, or whose content does not fit the schema."""


# Upper bounds, checked up front so a mistyped size is an error, not an allocator traceback.
MAX_VOCAB_SIZE = 2**24  # model.vocab_size
MAX_SEQ_LEN = 65_536  # model.seq_len
MAX_SEQUENCES = 10**8  # any count of sequences: data sets, batches, samples, work units, rollouts
MAX_TOKENS = 2**31  # sequences x seq_len of one set (16 GiB of int64 ids); rollout.chunk_tokens
MAX_PARAMETERS = 2**31  # weights of G or D (8 GiB of float32 each)

AUTO = "auto"
Size = int | str  # a positive int, or AUTO: sized by seqgan/sizing.py from the budget and the device kind


@dataclass
class ModelConfig:
    vocab_size: int = 5000
    seq_len: int = 20
    start_token: int = 0
    end_token: int | None = None  # None: fixed length; else sentences end with it and are padded with it



@dataclass
class GeneratorConfig:
    embed_dim: int = 32
    hidden_dim: int = 32
    init_std: float = 0.1  # N(0, init_std^2) for every weight, as the paper's code
    lr: float = 0.01  # Adam, MLE and policy gradient alike
    grad_clip: float = 5.0


@dataclass
class DiscriminatorConfig:
    embed_dim: int = 64
    filter_sizes: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20])
    num_filters: list[int] = field(
        default_factory=lambda: [100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160])
    dropout: float = 0.25  # training only; scoring runs without dropout
    l2_reg: float = 0.2  # on the output layer, tf.nn.l2_loss style (sum of squares / 2)
    lr: float = 1e-4


@dataclass
class DataConfig:
    # Real data is sampled from an oracle (a file, or a new one from oracle_seed), or read from
    # token-id files; with both, the files are the data and the oracle scores NLL-oracle.
    oracle: str | None = None
    oracle_seed: int = 88
    train_file: str | None = None
    test_file: str | None = None
    corpus: str | None = None  # a corpus directory (seqgan corpus build): its train and test ids, whole
    num_train: int = 10_000
    num_test: int = 2_000
    batch_size: int = 64


@dataclass
class TrainConfig:
    seed: int = 0
    mle_epochs: int = 120
    disc_pretrain_rounds: int = 50
    disc_epochs: int = 3  # k: epochs over each fresh negative set
    adv_iterations: int = 200
    g_steps: int = 1
    d_steps: int = 5
    eval_every: int = 5  # MLE epochs / adversarial iterations between NLL evaluations
    eval_samples: int = 9_984
    checkpoint_every: int = 10  # steps of each phase (epochs, rounds, iterations) between checkpoints
    # What an adversarial iteration does: seqgan (the paper), or a baseline on the same data and
    # schedule: mle (one more MLE epoch), ss (one scheduled-sampling epoch), pg_bleu (SeqGAN's
    # policy gradient with BLEU against the training data as the reward, no D).
    method: str = "seqgan"
    ss_final_keep: float = 0.5  # ss: real-input probability at the last iteration (1 at the first)
    pg_bleu_order: int = 4  # pg_bleu: the reward is BLEU-n with this n (uniform weights 1/n)


@dataclass
class RolloutConfig:
    num_rollouts: int = 16  # N Monte Carlo completions per prefix
    update_rate: float = 0.0  # rollout policy <- rate * rollout + (1 - rate) * G; 0 = the paper
    memory_budget: int = 1 << 30  # bytes a reward computation may hold at once, per worker
    chunk_tokens: Size = AUTO  # completion tokens held at once
    unit_samples: Size = AUTO  # work unit = samples x prefix positions x rollouts
    unit_prefixes: Size = AUTO
    unit_rollouts: Size = AUTO
    sample_unit: int = 512  # sequences per sampling work unit (negatives, fresh batches)
    num_workers: int = 0  # 0 = inline: the same worker code in this process
    num_cpus: float = 1.0  # per rollout actor
    num_gpus: float = 0.0  # per rollout actor; fractions share a GPU
    torch_threads: int = 1  # per CPU actor, so K actors do not oversubscribe the cores
    max_retries: int = 3  # failed attempts of one unit before the iteration fails
    timeout_s: float = 600.0  # bounded wait for any result


@dataclass
class LearnerConfig:
    device: str = "auto"  # auto | cpu | cuda
    num_gpus: float = 0.0  # for the learner actor on a Ray cluster
    num_cpus: float = 0.0  # reserved CPU slots; 0: the learner works while the actors wait
    cuda_graphs: bool = False  # D's training steps replayed as CUDA graphs; needs the learner on a GPU
    deterministic: bool = True  # updates sum in a fixed order (no atomic adds): GPU runs repeat bit for bit
    max_restarts: int = 3  # learner actors lost (and restored from the latest checkpoint) before the run fails
    torch_threads: Size = AUTO  # the learner's torch threads (CPU kernels round by them); auto: the usable cores


@dataclass
class RayConfig:
    address: str | None = None  # None: RAY_ADDRESS, else a local ray.init()
    num_cpus: int | None = None  # local cluster size; None = the machine's


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    ray: RayConfig = field(default_factory=RayConfig)


METHODS = ("seqgan", "mle", "ss", "pg_bleu")  # train.method: each is a module of learner/methods/


SIZE_KEYS = ("chunk_tokens", "unit_samples", "unit_prefixes", "unit_rollouts")


def explicit_sizes(r: RolloutConfig) -> dict[str, int]:
    """The work-unit sizes the user set (not auto), by key."""
    return {k: getattr(r, k) for k in SIZE_KEYS if getattr(r, k) != AUTO}


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)
