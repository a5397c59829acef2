"""The floor times exactly the windows that prefix-window sharing cannot share."""
import pytest

from learner.bench import floor as bench_floor
from rewards.scoring import conv_flops
from seqgan.models import Discriminator


@pytest.mark.unit
@pytest.mark.parametrize("seq_len", [3, 5, 12])
def test_unshared_windows_are_the_windows_conv_flops_counts(seq_len, monkeypatch):
    disc = Discriminator(9, 4, [1, 2, 3, 5], [2, 3, 1, 2], 0.0)
    windows = {}  # filter size -> windows convolved per completion, summed over prefixes

    def counting(conv):
        def forward(x):
            size = conv.kernel_size[0]
            windows[size] = windows.get(size, 0) + x.shape[-1] - size + 1
        return forward

    for conv in disc.convs:
        monkeypatch.setattr(conv, "forward", counting(conv))
    bench_floor.unshared_windows(disc, 1, seq_len, "cpu")
    sizes = [s for s in (1, 2, 3, 5) if s <= seq_len]
    # conv_flops(shared) = 2·E·size·filters per window x (the sample's own windows + N x those past each prefix)
    for size in sizes:
        shared, _ = conv_flops(seq_len, 1, 1, [size], [1])
        own = seq_len - size + 1
        assert windows.get(size, 0) == shared // (2 * size) - own, (size, windows)


@pytest.mark.unit
def test_floor_parts_time_every_part(tiny_models):
    generator, disc = (m.float() for m in tiny_models)
    calls = []

    def timer(fn, repeats):
        calls.append(repeats)
        fn()
        return 0.25

    parts = bench_floor.floor_parts(generator, disc, batch=3, seq_len=6, rollouts=2, seconds=timer, repeats=2)
    assert parts == {"lstm_s": 0.25, "sample_s": 0.25, "d_conv_s": 0.25, "d_head_s": 0.25} and calls == [2] * 4
