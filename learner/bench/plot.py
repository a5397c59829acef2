"""`seqgan bench … --plot FILE.png`: the bench's figures as a PNG (matplotlib, Agg backend)."""
from __future__ import annotations

GIB = 1 << 30


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("--plot needs matplotlib: python3 -m pip install matplotlib") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _title(record: dict) -> str:
    m = record["machine"]
    where = m.get("gpu") or f"{m['cores']}-core {m['cpu']}"
    return f"{where}, torch {m['torch']}"


def plot_rollout(records: list[dict], path: str) -> None:
    """Seconds per reward computation (fast, reference, floor) and the fast engine's peak memory,
    against T."""
    plt = _pyplot()
    records = sorted(records, key=lambda r: r["seq_len"])
    ts = [r["seq_len"] for r in records]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("fast_s", "fast engine"), ("reference_s", "reference"), ("floor_s", "floor")):
        points = [(t, r[key]) for t, r in zip(ts, records) if r[key] is not None]
        if points:
            times.plot(*zip(*points), marker="o", label=label)
    times.set(xlabel="T (sequence length)", ylabel="seconds per reward computation", yscale="log")
    times.legend()
    memory.plot(ts, [r["peak_bytes"] / GIB for r in records], marker="o", label=records[0]["peak_measure"])
    memory.plot(ts, [r["memory_budget"] / GIB for r in records], linestyle="--", label="rollout.memory_budget")
    memory.plot(ts, [1.1 * r["memory_budget"] / GIB for r in records], linestyle=":", label="budget + 10 %")
    memory.set(xlabel="T (sequence length)", ylabel="GiB", ylim=(0, None))
    memory.legend()
    first = records[0]
    figure.suptitle(f"bench rollout, B={first['batch']}, N={first['rollouts']}, paper sizes: {_title(first)}",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def plot_scaling(result: dict, path: str) -> None:
    """Completed rollouts per second against K actors (a line per T and N), and against N (a line
    per T and K)."""
    plt = _pyplot()
    cells = {tuple(int(part[1:]) for part in key.split("_")): value for key, value in result["throughput"].items()}
    seq_lens, rollouts, workers = (sorted({c[i] for c in cells}) for i in range(3))
    figure, (by_workers, by_rollouts) = plt.subplots(1, 2, figsize=(10, 4))
    for t in seq_lens:
        for n in rollouts:
            by_workers.plot(workers, [cells[t, n, k] for k in workers], marker="o", label=f"T={t}, N={n}")
        for k in workers:
            by_rollouts.plot(rollouts, [cells[t, n, k] for n in rollouts], marker="o", label=f"T={t}, K={k}")
    by_workers.set(xlabel="K (rollout actors)", ylabel="completed rollouts / s", yscale="log", xticks=workers)
    by_rollouts.set(xlabel="N (rollouts per prefix)", ylabel="completed rollouts / s", yscale="log",
                    xscale="log", xticks=rollouts, xticklabels=[str(n) for n in rollouts])
    by_workers.legend(fontsize=8)
    by_rollouts.legend(fontsize=8)
    figure.suptitle(f"bench scaling, B={result['batch']}, paper sizes: {_title(result)}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
