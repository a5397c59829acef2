"""Pure torch models: the LSTM generator (also the oracle's class) and the paper's CNN discriminator."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqgan.endings import drop_ended, pad_after_end_

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [B, H]


SAMPLE_ROWS = 128  # CPU: rows per block, so a block's [rows, V] intermediates stay in cache
# GPU: [rows, V] elements per block (256 MiB fp32); launches cost more than cache misses there.
GPU_SAMPLE_ELEMENTS = 1 << 26
CDF_BLOCK = 64  # vocabulary block of the two-level inverse CDF


def check_temperature(value: float) -> float:
    """A sampling temperature: a finite number above 0 (logits are divided by it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a temperature: a finite number > 0, got {value!r}")
    return float(value)


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits / temperature; at 1 the logits themselves, so τ = 1 is bit for bit the untempered model."""
    return logits if temperature == 1.0 else logits / temperature


def token_log_probs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / temperature) at `tokens`: logits [B, T, V], tokens [B, T] -> [B, T]."""
    logp = F.log_softmax(tempered(logits, temperature), dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def sample_tokens(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling from softmax(logits) with explicit uniform draws.

    logits [U, V], uniforms [U] in [0, 1) -> tokens [U]. Explicit draws make sampling a pure
    function of (model, draws): the fast and the reference rollout engines, and any number of
    workers, produce the same tokens from the same seeds. Row-wise only, so a row's token does
    not depend on the batch it is in. Two-level CDF: sums of vocabulary blocks pick the block,
    a scan inside that block picks the token (a full [U, V] cumsum is the slow part otherwise).
    """
    rows, vocab = logits.shape
    whole, blocks = vocab // CDF_BLOCK, -(-vocab // CDF_BLOCK)
    probs = torch.softmax(logits, dim=-1)  # [U, V]; one fused pass
    # Block sums straight from a view (no padded copy); a short last block is summed on its own.
    block_sums = probs[:, :whole * CDF_BLOCK].unflatten(1, (whole, CDF_BLOCK)).sum(-1)  # [U, whole]
    if blocks > whole:
        block_sums = torch.cat([block_sums, probs[:, whole * CDF_BLOCK:].sum(-1, keepdim=True)], dim=1)
    block_cdf = block_sums.cumsum(dim=-1)  # [U, blocks]
    target = uniforms.to(probs.dtype).unsqueeze(-1) * block_cdf[:, -1:]  # [U, 1]
    block = torch.searchsorted(block_cdf, target, right=True).clamp_(max=blocks - 1)  # [U, 1]
    before = torch.where(block > 0, block_cdf.gather(1, (block - 1).clamp(min=0)), 0.0)
    index = block * CDF_BLOCK + torch.arange(CDF_BLOCK, device=logits.device)  # [U, CDF_BLOCK]
    inner_cdf = probs.gather(1, index.clamp(max=vocab - 1)).masked_fill_(index >= vocab, 0.0).cumsum(-1)
    inner = torch.searchsorted(inner_cdf, target - before, right=True).clamp_(max=CDF_BLOCK - 1)
    return (block * CDF_BLOCK + inner).squeeze(-1).clamp_(max=vocab - 1)


class Generator(nn.Module):
    """Embedding + one-layer LSTM + linear output; a stochastic policy over token sequences.
    With `end_token` set, sampled sequences are padded with it after their first end token
    (seqgan/endings.py); None (the oracle, the paper) samples fixed-length sequences."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, seq_len: int, start_token: int = 0,
                 end_token: int | None = None):
        super().__init__()
        self.vocab_size, self.seq_len, self.start_token = vocab_size, seq_len, start_token
        self.end_token = end_token
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def init_normal_(self, std: float) -> "Generator":
        for p in self.parameters():
            nn.init.normal_(p, 0.0, std)
        return self

    def initial_state(self, batch: int) -> State:
        zeros = self.embedding.weight.new_zeros(batch, self.lstm.hidden_size)
        return zeros, zeros.clone()

    def inputs_for(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs: [start, y_1 .. y_{T-1}] for tokens [B, T]."""
        start = tokens.new_full((tokens.shape[0], 1), self.start_token)
        return torch.cat([start, tokens[:, :-1]], dim=1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, V] of y_t given y_<t."""
        hidden, _ = self.lstm(self.embedding(self.inputs_for(tokens)))
        return self.out(hidden)

    def kept_logits(self, tokens: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [K, V] at the K positions `kept` [B, T] bool (each row's kept
        positions a leading run, as `~past_end`): the LSTM runs only to the batch's longest kept
        run and the output layer, most of G's arithmetic per token, only at kept positions."""
        length = int(kept.sum(dim=1).max())  # the longest sentence of the batch, its end token included
        hidden, _ = self.lstm(self.embedding(self.inputs_for(tokens[:, :length])))  # [B, length, H]
        return self.out(hidden[kept[:, :length]])

    def log_probs(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """log G(y_t | y_<t) for tokens [B, T] -> [B, T], of G at `temperature` (logits / τ)."""
        return token_log_probs(self(tokens), tokens, temperature)

    def advance(self, inputs: torch.Tensor, state: State) -> State:
        """One LSTM step: inputs [U] token ids, state (h, c) [U, H] -> new state."""
        h, c = state
        gates = F.linear(self.embedding(inputs), self.lstm.weight_ih_l0, self.lstm.bias_ih_l0)
        gates = gates + F.linear(h, self.lstm.weight_hh_l0, self.lstm.bias_hh_l0)  # [U, 4H]
        i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch gate order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    @torch.no_grad()
    def next_tokens(self, h: torch.Tensor, uniforms: torch.Tensor, rows: int | None = None,
                    temperature: float = 1.0) -> torch.Tensor:
        """Sample the next tokens [U] from hidden states h [U, H] at `temperature` (logits / τ);
        logits are made `rows` rows at a time, by default small blocks on a CPU (cache) and large on a
        GPU (few kernel launches, memory bounded). One step knows no history: whoever assembles whole
        sequences pads them after their end token."""
        if rows is None:
            rows = SAMPLE_ROWS if h.device.type == "cpu" else max(1, GPU_SAMPLE_ELEMENTS // self.vocab_size)
        return torch.cat([sample_tokens(tempered(self.out(h[r:r + rows]), temperature), uniforms[r:r + rows])
                          for r in range(0, len(h), rows)])

    def prefix_states(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States after consuming [start, y_1 .. y_{t-1}] for t = 1..T-1, stepped like `advance`.

        tokens [B, T] -> (h, c), each [B, T-1, H]; index t-1 is where a completion of the prefix
        y_1..y_t starts: advancing with y_t from there gives the state that samples y_{t+1}.
        """
        state = self.initial_state(tokens.shape[0])
        inputs = self.inputs_for(tokens)  # [B, T]
        hs, cs = (state[0].new_empty(tokens.shape[0], tokens.shape[1] - 1, state[0].shape[1]) for _ in range(2))
        for t in range(tokens.shape[1] - 1):  # written in place: no list of steps beside the result
            state = self.advance(inputs[:, t], state)
            hs[:, t], cs[:, t] = state
        return hs, cs

    @torch.no_grad()
    def sample(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Sequences [U, T] drawn with explicit uniforms [U, T] (one draw per position), padded after
        their first end token. A row that has drawn its end token leaves the stepping batch; its
        token at position t still comes from uniform [row, t] alone, so the tokens are those of
        stepping every row to T. At a `temperature` τ the logits are divided by τ, with the same
        draws: samples at two temperatures are coupled draw by draw, and τ = 1 is the untempered
        model's sample bit for bit."""
        count, length = uniforms.shape
        tokens = uniforms.new_full((count, length), self.start_token if self.end_token is None else self.end_token,
                                   dtype=torch.long)  # rows that stop early keep the end token as padding
        inputs = torch.full((count,), self.start_token, dtype=torch.long, device=uniforms.device)
        (h, c), going = self.initial_state(count), torch.arange(count, device=uniforms.device)  # [A] rows stepping
        for t in range(length):
            inputs, h, c, going = drop_ended(t, inputs, self.end_token, h, c, going)  # ended rows leave
            if not len(going):
                break
            h, c = self.advance(inputs, (h, c))
            inputs = self.next_tokens(h, uniforms[going, t], temperature=temperature)
            tokens[going, t] = inputs
        return pad_after_end_(tokens, self.end_token)


class Highway(nn.Module):
    """y = t * relu(W_h x) + (1 - t) * x with gate t = sigmoid(W_t x)."""

    def __init__(self, size: int):
        super().__init__()
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(x))
        return gate * F.relu(self.transform(x)) + (1.0 - gate) * x


class Discriminator(nn.Module):
    """The paper's CNN: embedding, a conv per filter size with max-over-time pooling, highway,
    dropout and a 2-class output (index 1 = real)."""

    def __init__(self, vocab_size: int, embed_dim: int, filter_sizes: list[int], num_filters: list[int],
                 dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n, s) for s, n in zip(filter_sizes, num_filters))
        features = sum(num_filters)
        self.highway = Highway(features)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(features, 2)

    def init_paper_(self) -> "Discriminator":
        nn.init.uniform_(self.embedding.weight, -1.0, 1.0)
        for conv in self.convs:
            nn.init.trunc_normal_(conv.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(conv.bias, 0.1)
        for layer in (self.highway.transform, self.highway.gate, self.out):
            nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.zeros_(layer.bias)  # highway gate bias 0, as the paper's setting
        return self

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] -> pooled conv features [B, F]."""
        embedded = self.embedding(tokens).transpose(1, 2)  # [B, E, T]
        return torch.cat([F.relu(conv(embedded)).amax(dim=-1) for conv in self.convs], dim=1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features [B, F] -> class logits [B, 2]."""
        return self.out(self.dropout(self.highway(features)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Class logits [B, 2]."""
        return self.head(self.features(tokens))

    @torch.no_grad()
    def real_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """P(real) [B]; call in eval mode (no dropout) for rewards."""
        return torch.softmax(self(tokens), dim=-1)[:, 1]

    def l2_loss(self) -> torch.Tensor:
        return 0.5 * (self.out.weight.square().sum() + self.out.bias.square().sum())


def build_generator(model_cfg, gen_cfg) -> Generator:
    return Generator(model_cfg.vocab_size, gen_cfg.embed_dim, gen_cfg.hidden_dim, model_cfg.seq_len,
                     model_cfg.start_token, model_cfg.end_token)


def build_discriminator(model_cfg, disc_cfg) -> Discriminator:
    return Discriminator(model_cfg.vocab_size, disc_cfg.embed_dim, disc_cfg.filter_sizes,
                         disc_cfg.num_filters, disc_cfg.dropout)
