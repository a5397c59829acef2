"""`seqgan bleu`: BLEU-n of generated sentences against references, and Self-BLEU-n, as the
text-GAN tables compute them (rewards/bleu/score.py: NLTK's sentence_bleu with method1, averaged)."""
from __future__ import annotations

import json
from pathlib import Path

from learner.commands.common import int_at_least, positive_int, seed_int

order_int = int_at_least(2, "a largest n-gram order of at least 2")


def cmd_bleu(args) -> None:
    from rewards.bleu.score import SELF_BLEU_VARIANT
    from rewards.bleu.corpus import bleu, self_bleu
    from seqgan.data.sentences import corpus_test_sentences, read_sentences, sample_sentences

    if not args.refs and not args.self:
        raise ValueError("bleu: give --refs FILE|CORPUS_DIR, --self, or both")
    hypotheses = read_sentences(args.hyps, "hypothesis file", args.tokenize)
    if args.sample is not None and args.sample > len(hypotheses):
        raise ValueError(f"--sample {args.sample} is more than the {len(hypotheses)} hypotheses in {args.hyps!r}: "
                         "ask for at most that many, or leave --sample out to score them all")
    hypotheses = sample_sentences(hypotheses, args.sample, args.seed)
    orders = tuple(range(2, args.max_n + 1))
    result = {"hypotheses": len(hypotheses), "empty_hypotheses": sum(not h for h in hypotheses),
              "tokenize": args.tokenize}
    if args.refs:
        references = corpus_test_sentences(args.refs) if Path(args.refs).is_dir() \
            else read_sentences(args.refs, "reference file", args.tokenize)
        result["references"] = len(references)
        result["bleu"] = bleu(references, hypotheses, orders, args.workers)
    if args.self:
        result["self_bleu"] = self_bleu(hypotheses, orders, args.workers)
        result["self_bleu_variant"] = SELF_BLEU_VARIANT
    print(json.dumps(result) if args.json else describe(result))


def describe(result: dict) -> str:
    lines = [f"hypotheses: {result['hypotheses']} ({result['empty_hypotheses']} empty, scored 0)"]
    if "references" in result:
        lines.append(f"references: {result['references']}")
    lines.append(f"tokenize: {result['tokenize']}")
    lines += [f"BLEU-{n}: {score:.6f}" for n, score in result.get("bleu", {}).items()]
    if "self_bleu" in result:
        lines += [f"Self-BLEU-{n}: {score:.6f}" for n, score in result["self_bleu"].items()]
        lines.append(f"Self-BLEU variant: {result['self_bleu_variant']}")
    return "\n".join(lines)


def register(sub) -> None:
    from seqgan.data.sentences import TOKENIZERS

    bleu = sub.add_parser("bleu", help="BLEU-2..n against references and Self-BLEU (NLTK's sentence BLEU, method1)",
                          description="Scores HYPS (one sentence a line) with NLTK's sentence_bleu, "
                                      "SmoothingFunction().method1, uniform weights, averaged over sentences.")
    bleu.add_argument("hyps", metavar="HYPS", help="generated sentences, one a line (UTF-8)")
    bleu.add_argument("--refs", metavar="FILE|CORPUS_DIR",
                      help="reference sentences, or a corpus directory (seqgan corpus build) for its test "
                           "split: all of them are references for every hypothesis")
    bleu.add_argument("--self", action="store_true",
                      help="also Self-BLEU of HYPS: each sentence against the other sentences (not itself)")
    bleu.add_argument("--max-n", type=order_int, default=5, help="report BLEU-2..MAX_N (default 5)")
    bleu.add_argument("--tokenize", choices=TOKENIZERS, default="space",
                      help="space: at whitespace (default); word: NLTK's word tokenizer on each line; "
                           "char: characters (the tokenizers of seqgan corpus build)")
    bleu.add_argument("--workers", type=positive_int, default=1, help="processes that score sentences (default 1)")
    bleu.add_argument("--sample", type=positive_int, metavar="N", help="score N hypotheses drawn at random (seeded)")
    bleu.add_argument("--seed", type=seed_int, default=0, help="seed of --sample (default 0)")
    bleu.add_argument("--json", action="store_true", help="print one JSON object")
    bleu.set_defaults(func=cmd_bleu)
