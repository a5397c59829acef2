"""Work-unit sizes and the memory budget of a reward computation (`rollout.*` sizes set to `auto`).

The split of a batch into work units decides which random draws each completion uses, so it
depends only on the config and the kind of device the workers compute on, never on the budget
or on how many workers are alive: inline and any number of actors on the same device kind get
the same units and bit-identical rewards. The budget only decides how a unit is cut while it
runs (samples per prefix pass, completion tokens alive, rows per D call and per block of G's
logits), which does not change what any completion computes.

The byte counts below follow the tensors rewards/rollout.py and rewards/scoring.py allocate. On text
the engine completes only live (sample, prefix) pairs, `chunk_tokens` worth at a time, and runs the
prefix pass only to the longest live prefix: live work only ever takes less than these counts, whose
worst case is a batch that never ends.
"""
from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import AUTO, Config, ConfigError
from seqgan.models import GPU_SAMPLE_ELEMENTS, SAMPLE_ROWS

DEVICE_KINDS = ("cpu", "cuda")
# Completions per auto work unit. CPU: the size of the earlier default unit (16 samples x 8 prefixes
# x 16 rollouts): a step over 2,048 rows keeps the matmuls at full speed, and a batch makes many
# units to share out over actors. GPU: a step is launch-bound below tens of thousands of rows, so
# the paper's whole batch (64 x 19 x 16 = 19,456) is one unit; long sequences still split.
UNIT_COMPLETIONS = {"cpu": 2048, "cuda": 1 << 16}
# Completions of one prefix a unit scores together (one D call) where the batch allows: on a CPU,
# units of 4 samples (64 per call) took 1.2x the CPU time of units of 16 (256 per call) at T=20.
GROUP_COMPLETIONS = {"cpu": 256, "cuda": 4096}
# Shares of the budget: a sample piece's prefix states and D window maxima, then the completions
# alive; what is left bounds one D call or one block of G's logits (they never overlap).
PREFIX_SHARE, CHUNK_SHARE = 0.25, 0.25
F32, I64, F64 = 4, 8, 8  # bytes per element


@dataclass(frozen=True)
class ResolvedUnits:
    unit_samples: int
    unit_prefixes: int
    unit_rollouts: int
    chunk_tokens: int  # completion tokens alive at once
    piece_samples: int  # samples whose prefix states and D window maxima are held at once
    score_rows: int  # completions per D call
    sample_rows: int  # rows per block of G's logits [rows, V]


@dataclass(frozen=True)
class Footprint:
    """Bytes the engine holds, from the model sizes."""
    seq_len: int
    hidden: int
    g_embed: int
    vocab: int
    d_embed: int
    filters: int  # sum over D's convs
    widest: int  # the most filters of one conv

    @classmethod
    def of(cls, c: Config) -> "Footprint":
        d = c.discriminator
        return cls(c.model.seq_len, c.generator.hidden_dim, c.generator.embed_dim, c.model.vocab_size,
                   d.embed_dim, sum(d.num_filters), max(d.num_filters))

    def prefix(self, samples: int) -> int:
        """Prefix states (h, c) [s, T-1, H] and D's running window maxima [s, F, <=T], plus the largest
        transient of making them: one conv's embedded input, output and cummax (values, int64 indices)."""
        t = self.seq_len
        kept = 2 * (t - 1) * self.hidden * F32 + self.filters * t * F32
        transient = t * (2 * self.d_embed * F32 + self.widest * (2 * F32 + I64))
        return samples * (kept + transient)

    def chunk(self, tokens: int) -> int:
        """Completions alive: draws (float64) and tokens (int64) per position, a copy of the draws
        when a prefix group is split by samples; per completion one LSTM step's rows (state, gates,
        activations: about 19 H + E floats) and five index or draw vectors. (Padding after an end token
        takes about 3 bytes a token once the steps are done, when the rows' share is free again.)"""
        per_row = (19 * self.hidden + self.g_embed) * F32 + 5 * I64
        return tokens * 3 * F64 + -(-tokens // self.seq_len) * per_row

    def call(self, rows: int) -> int:
        """One D call on `rows` completions: embedded tokens and their conv input, one conv's output,
        and the pooled features through the highway layer (about 10 copies of [rows, F])."""
        t = self.seq_len
        return rows * (t * (2 * self.d_embed + self.widest) * F32 + 10 * self.filters * F32)

    def sample(self, rows: int) -> int:
        """One block of G's logits: logits and probabilities [rows, V], and the in-block CDF."""
        return rows * (2 * self.vocab * F32 + 1024)

    def draws(self, samples: int, rollouts: int) -> int:
        """One prefix's draws [samples, rollouts, T] of a unit, made whole before they are sliced."""
        return samples * rollouts * self.seq_len * F64


def auto_units(c: Config, device_kind: str) -> tuple[int, int, int]:
    """(samples, prefixes, rollouts) per unit: about UNIT_COMPLETIONS completions. All rollouts first
    (a unit shares its prefix work over them), then samples until a prefix's completions fill a D
    call of GROUP_COMPLETIONS (a power of two, so a batch splits evenly; each unit re-runs the prefix
    pass of its samples, so no more), then prefixes in equal spans."""
    r, prefixes, batch = c.rollout, c.model.seq_len - 1, c.data.batch_size
    grain = UNIT_COMPLETIONS[device_kind]
    rollouts = min(r.num_rollouts, grain) if r.unit_rollouts == AUTO else r.unit_rollouts
    if r.unit_samples == AUTO:
        fit = max(1, min(-(-GROUP_COMPLETIONS[device_kind] // rollouts), grain // rollouts))
        unit_samples = min(batch, 1 << (fit.bit_length() - 1))
    else:
        unit_samples = r.unit_samples
    if r.unit_prefixes == AUTO:
        per_span = max(1, min(prefixes, grain // (rollouts * min(unit_samples, batch))))
        spans = -(-prefixes // per_span)
        unit_prefixes = -(-prefixes // spans)
    else:
        unit_prefixes = r.unit_prefixes
    return unit_samples, unit_prefixes, rollouts


def _most(fits, limit: int) -> int:
    """The largest n in [0, limit] with fits(n) (fits is monotone)."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def resolve_units(c: Config, device_kind: str) -> ResolvedUnits:
    """Every size of a reward computation; explicit sizes win, `auto` ones fit the budget."""
    if device_kind not in DEVICE_KINDS:
        raise ValueError(f"device kind must be one of {DEVICE_KINDS}, got {device_kind!r}")
    r, m = c.rollout, Footprint.of(c)
    budget, t = r.memory_budget, c.model.seq_len
    unit_samples, unit_prefixes, rollouts = auto_units(c, device_kind)
    samples, rollouts_alive = min(unit_samples, c.data.batch_size), min(rollouts, r.num_rollouts)
    group_tokens = rollouts_alive * t  # one sample's rollouts of one prefix: the smallest piece
    rollouts_key = "rollout.unit_rollouts" + (" (auto)" if r.unit_rollouts == AUTO else "")
    least = m.prefix(1) + m.draws(samples, rollouts_alive) + m.chunk(group_tokens) + max(m.call(1), m.sample(1))
    if budget < least:
        raise ConfigError(f"rollout.memory_budget ({budget} bytes) is below one sample's rollouts: one prefix of "
                          f"one sample with {rollouts_alive} rollouts ({rollouts_key}) at model.seq_len={t} "
                          f"needs at least {least} bytes")
    piece = max(1, _most(lambda s: m.prefix(s) <= PREFIX_SHARE * budget, samples))
    fixed = m.prefix(piece) + m.draws(samples, rollouts_alive)
    if r.chunk_tokens == AUTO:
        unit_tokens = samples * min(unit_prefixes, t - 1) * rollouts_alive * t
        chunk = max(group_tokens, _most(lambda n: m.chunk(n) <= CHUNK_SHARE * budget, unit_tokens))
    else:
        chunk = r.chunk_tokens
        if chunk < group_tokens:
            raise ConfigError(f"rollout.chunk_tokens ({chunk}) must hold one sample's rollouts of one prefix: "
                              f"{rollouts_key} {rollouts_alive} x model.seq_len {t} = {group_tokens}")
    left = budget - fixed - m.chunk(min(chunk, samples * (t - 1) * rollouts_alive * t))
    if left < max(m.call(1), m.sample(1)):
        most = _most(lambda n: m.chunk(n) + max(m.call(1), m.sample(1)) <= budget - fixed, chunk)
        raise ConfigError(f"rollout.chunk_tokens ({chunk}) leaves no room for a D call in rollout.memory_budget "
                          f"({budget} bytes): at most {most} tokens fit at model.seq_len={t}")
    default_rows = SAMPLE_ROWS if device_kind == "cpu" else max(1, GPU_SAMPLE_ELEMENTS // c.model.vocab_size)
    score_rows = max(1, _most(lambda n: m.call(n) <= left, samples * rollouts_alive))
    sample_rows = max(1, _most(lambda n: m.sample(n) <= left, default_rows))
    return ResolvedUnits(unit_samples, unit_prefixes, rollouts, chunk, piece, score_rows, sample_rows)
