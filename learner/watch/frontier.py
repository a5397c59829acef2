"""`seqgan frontier`: each run's generator swept over sampling temperatures, quality against diversity
(Caccia et al. 2018, "Language GANs Falling Short"): a single point favours a generator that gave up
diversity for quality; the whole curve does not.

At each temperature τ, N samples drawn with `seqgan sample --seed S`'s draws (the same draws at every
τ and for every run, so the points differ by the models and τ alone):
- oracle runs: NLL-oracle of the samples (quality, lower is better) and NLL-test at τ, G's per-token
  NLL of the oracle's held-out samples (coverage: lower is more diverse and complete);
- text runs: BLEU-2..5 of the samples against the test set (quality), their Self-BLEU-2..5 (lower is
  more diverse) and NLL-test at τ on the test set.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from actors.inline_pool import torch_threads
from learner.watch.equal_diversity import AXES, dominance, equal_diversity, summary_lines
from learner.watch.frontier_plot import check_marks
from learner.watch.frontier_runs import ORACLE, FrontierRun, load_runs
from learner.watch.reverse_lm import reverse_lm_scores
from seqgan.metrics import nll_at_temperatures, nll_per_token
from seqgan.models import check_temperature
from seqgan.seeding import SAMPLE_CHUNK, sample_draws

DEFAULT_TEMPERATURES = "0.5:1.5:0.05"
# Logits per NLL batch ([batch, T, V] elements): 16 sequences at T = 20, V = 5000 stay in cache, three
# times faster than batches of 1,024 there; small models take many sequences a batch.
NLL_ELEMENTS = 16 * 20 * 5000
SCHEMA = 1  # the JSON document's version


def temperature_list(text: str) -> list[float]:
    """START:STOP:STEP (both ends included) or a comma-separated list -> the sorted distinct
    temperatures, τ = 1 always among them (the trained model, the baseline of equal diversity)."""
    text = text.strip()
    if not text:
        raise ValueError("expected temperatures (START:STOP:STEP or a comma-separated list), got an empty list")
    if ":" in text:
        values = temperature_range(text)
    else:
        values = [number(part, text) for part in text.split(",")]
    return sorted({check_temperature(value) for value in values} | {1.0})


def temperature_range(text: str) -> list[float]:
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"expected START:STOP:STEP, got {text!r}")
    start, stop, step = (number(part, text) for part in parts)
    for value in (start, stop):
        check_temperature(value)
    if not step > 0 or step == float("inf"):
        raise ValueError(f"expected a finite STEP > 0 in {text!r}, got {step!r}")
    if stop < start:
        raise ValueError(f"expected START <= STOP in {text!r}")
    count = int(round((stop - start) / step)) + 1  # rounding: 0.5:1.5:0.05 is 21 values, not 20
    return [round(start + index * step, 10) for index in range(count)]


def number(part: str, text: str) -> float:
    try:
        return float(part)
    except ValueError:
        raise ValueError(f"expected a number, got {part.strip()!r} in {text!r}") from None


_task = None  # (run, judge, samples, seed, keep samples): the sweep forked pool processes work on


def sweep(run: FrontierRun, temperatures: list[float], samples: int, seed: int, say=None,
          judge: FrontierRun | None = None, reverse_lm: int | None = None, processes: int = 1) -> list[dict]:
    """A point per temperature: the run's measures at τ (see the module's docstring); with a `judge`
    run, its generator's per-token NLL of the samples (`lm_score`, Caccia et al.'s LM score); with
    `reverse_lm` (a number of Ray workers, 0: inline) the reverse LM score (learner/watch/reverse_lm.py).
    The temperatures are shared out over `processes` forked processes; every τ is measured with one
    torch thread, so the points are the same for any number of processes."""
    global _task
    data = run.data
    if data.kind != ORACLE:
        data.text_metrics()  # the reference table, counted here once, not in every process
    with torch_threads(1):
        nll_tests = nll_at_temperatures(run.generator, data.test, temperatures, nll_batch(run.generator),
                                        data.end_token)
        _task = (run, judge, samples, seed, reverse_lm is not None)
        points, sample_sets = [], []
        try:
            for index, (point, tokens, seconds) in enumerate(over_processes(measure, temperatures, processes)):
                points.append({**point, "nll_test": nll_tests[index]})
                sample_sets.append(tokens)
                if say is not None:
                    shown = " ".join(f"{key}={points[-1][key]:.4f}" for key in AXES[data.kind])
                    say(f"{run.label}: τ={point['temperature']:g} ({index + 1}/{len(temperatures)}) {shown} "
                        f"({seconds:.1f} s)")
        finally:
            _task = None
    if reverse_lm is not None:
        began = time.perf_counter()
        scores = reverse_lm_scores(run.config, sample_sets, data.test, reverse_lm)
        for point, score in zip(points, scores):
            point["reverse_lm"] = score
        if say is not None:
            where = f"Ray tasks on {reverse_lm} CPUs" if reverse_lm else "inline"
            say(f"{run.label}: reverse LM at {len(points)} temperatures, {where} ({time.perf_counter() - began:.1f} s)")
    return points


def measure(temperature: float) -> tuple[dict, torch.Tensor | None, float]:
    """(the measures of _task's run at τ but NLL-test, its samples when kept, seconds taken)."""
    run, judge, samples, seed, keep = _task
    began = time.perf_counter()
    data, batch = run.data, nll_batch(run.generator)
    tokens = sampled(run.generator, samples, seed, temperature)
    if data.kind == ORACLE:
        point = {"temperature": temperature, "nll_oracle": nll_per_token(data.oracle, tokens, batch)}
    else:
        scores = data.text_metrics()(tokens)
        point = {"temperature": temperature, **{k: v for k, v in scores.items() if k != "bleu_hypotheses"}}
    if judge is not None:
        point["lm_score"] = nll_per_token(judge.generator, tokens, batch, data.end_token)
    return point, tokens if keep else None, time.perf_counter() - began


def over_processes(function, items: list, processes: int):
    """function(item) for each item, in order: in this process, or on a pool of forked processes
    (they inherit the models instead of unpickling copies; one torch thread each)."""
    if processes == 1 or len(items) == 1:
        yield from map(function, items)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(processes, len(items)), mp_context=context, initializer=torch.set_num_threads,
                             initargs=(1,)) as pool:
        yield from pool.map(function, items)


def nll_batch(generator) -> int:
    """Sequences per NLL batch for the generator's (and its oracle's) sizes."""
    return max(1, NLL_ELEMENTS // (generator.seq_len * generator.vocab_size))


def sampled(generator, count: int, seed: int, temperature: float):
    """`seqgan sample -n count --seed seed --temperature τ`'s sequences [count, T]."""
    return torch.cat([generator.sample(uniforms, temperature)
                      for uniforms in sample_draws(seed, count, generator.seq_len, SAMPLE_CHUNK)])


def frontier(locations: list[str], temperatures: list[float], samples: int, seed: int = 0,
             checkpoint: str = "final", baseline: str = "mle", say=None, judge: str | None = None,
             reverse_lm: int | None = None, processes: int = 1, marks: list[dict] | None = None) -> dict:
    """The JSON document: the sweep of every run, then quality at equal diversity and which method's
    curve is better than which (learner/watch/equal_diversity.py). `judge`: a run on the same data
    whose generator scores every sample; `reverse_lm` and `processes`: see sweep; `marks`: published
    points for the plot (learner/watch/frontier_plot.py), checked against the runs' kind first."""
    began = time.perf_counter()
    runs = load_runs(locations + ([judge] if judge else []), checkpoint)
    judge_run = runs.pop() if judge else None
    check_marks(marks or [], runs[0].data.kind)
    for run in runs:
        if not run.finished and say is not None:
            say(f"{run.label}: not finished (no summary.json): its latest checkpoint {run.checkpoint}")
    entries = [{"run": run.location, "label": run.label, "method": run.method, "seed": run.seed,
                "checkpoint": run.checkpoint, "finished": run.finished,
                "points": sweep(run, temperatures, samples, seed, say, judge_run, reverse_lm, processes)}
               for run in runs]
    kind = runs[0].data.kind
    quality, diversity = AXES[kind]
    return {"schema": SCHEMA, "kind": kind, "quality": quality, "diversity": diversity,
            "samples": samples, "seed": seed, "checkpoint": checkpoint, "temperatures": temperatures,
            "judge": None if judge_run is None else {"run": judge_run.location, "checkpoint": judge_run.checkpoint},
            "runs": entries, "equal_diversity": equal_diversity(entries, kind, baseline),
            "dominance": dominance(entries, kind), **({"marks": marks} if marks else {}),
            "wall_s": round(time.perf_counter() - began, 1)}


def table(document: dict, places: int = 3) -> str:
    """Markdown: a row per (run, τ) with every measure, then quality at equal diversity and dominance."""
    keys = [k for k in document["runs"][0]["points"][0] if k != "temperature"]
    lines = ["| run | method | τ | " + " | ".join(keys) + " |", "| --- | --- | --- |" + " --- |" * len(keys)]
    for entry in document["runs"]:
        for point in entry["points"]:
            cells = " | ".join(f"{point[k]:.{places}f}" for k in keys)
            lines.append(f"| {entry['label']} | {entry['method']} | {point['temperature']:g} | {cells} |")
    return "\n".join(lines + [""] + summary_lines(document, places))


def read_frontier(path: str) -> dict:
    """A frontier document written by `seqgan frontier --out` (an error naming the file otherwise)."""
    import json

    from seqgan.files import read_text

    try:
        document = json.loads(read_text(path, "frontier file"))
    except json.JSONDecodeError as error:
        raise ValueError(f"frontier file {path!r} is not JSON ({error})") from None
    fields = ("schema", "kind", "runs", "equal_diversity", "dominance")
    if not isinstance(document, dict) or document.get("schema") != SCHEMA or not all(k in document for k in fields):
        raise ValueError(f"frontier file {path!r} is not a `seqgan frontier --out` document of schema {SCHEMA} "
                         f"(expected the fields {', '.join(fields)})")
    return document


def stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
