"""Knowledge-base benchmark: retrieval quality, the "nothing relevant" decision, speed.

Ingests ``shared/eval/kb/docs`` into a fresh Qdrant local-mode store, asks
every question of ``questions.jsonl`` with dense and with hybrid retrieval and
reports recall@1/@5, MRR, the "not in the knowledge base" decision (as a
baseline a top-score threshold fitted on this set: the highest that still keeps
>= 95 % of the answerable questions; "configured": the retriever's calibrated
decision, see appliance/knowledge/relevance.py), ingestion chunks/s, query latency p50/p95, and the
retrieval latency over a synthetic 10,000-chunk collection.

    PYTHONPATH=. python scripts/bench_knowledge.py [--out bench-results/knowledge.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.knowledge.embeddings import UseEmbeddings
from appliance.knowledge.ingest import KnowledgeStore, open_local_client
from appliance.knowledge.retrieve import DEFAULT_KEYWORD_WEIGHT, DEFAULT_MIN_SCORE, Retriever
from scripts.stats import percentile, write_report

EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared/eval/kb"
KEEP_TARGET = 0.95
SCALE_CHUNKS = 10_000


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    doc: str | None


@dataclass(frozen=True)
class Outcome:
    rank: int | None  # 1-based rank of the expected document, None if not in the top 5
    top_score: float
    seconds: float
    relevant: bool  # the retriever's own decision (floor + calibrated coverage model)


def load_questions(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [Question(r["id"], r["question"], r["doc"]) for r in rows]


def ask(retriever: Retriever, question: Question) -> Outcome:
    result = retriever.retrieve(question.text, k=5)
    files = [p.source_file for p in result.passages]
    ranks = [i + 1 for i, name in enumerate(files) if name == question.doc]
    return Outcome(ranks[0] if ranks else None, result.top_score, result.seconds, result.relevant)


def fit_threshold(answerable: list[float], unanswerable: list[float]) -> float:
    """Highest threshold keeping >= KEEP_TARGET of answerables, midway into the gap below."""
    ordered = sorted(answerable)
    allowed = int(len(ordered) * (1 - KEEP_TARGET))  # answerables we may lose
    cut = ordered[allowed]
    below = [s for s in ordered[:allowed] + unanswerable if s < cut]
    return (cut + max(below)) / 2 if below else cut


def decision(
    answerable: list[float], unanswerable: list[float], threshold: float
) -> dict[str, float]:
    return {
        "threshold": round(threshold, 4),
        "unanswerable_detected": sum(s < threshold for s in unanswerable) / len(unanswerable),
        "answerable_kept": sum(s >= threshold for s in answerable) / len(answerable),
    }


def evaluate(retriever: Retriever, questions: list[Question]) -> dict[str, Any]:
    retriever.retrieve("warm-up", k=5)
    outcomes = [(q, ask(retriever, q)) for q in questions]
    answerable = [o for q, o in outcomes if q.doc]
    good = [o.top_score for o in answerable]
    bad = [o.top_score for q, o in outcomes if not q.doc]
    fitted = fit_threshold(good, bad)
    latencies = [o.seconds * 1000 for _, o in outcomes]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "recall@1": sum(o.rank == 1 for o in answerable) / len(answerable),
        "recall@5": sum(o.rank is not None for o in answerable) / len(answerable),
        "mrr": sum(1 / o.rank for o in answerable if o.rank) / len(answerable),
        "misses": [q.id for q, o in outcomes if q.doc and o.rank != 1],
        "fitted": decision(good, bad, fitted),
        "configured": {
            "threshold": "calibrated",
            "unanswerable_detected": sum(not o.relevant for q, o in outcomes if not q.doc)
            / max(1, len(bad)),
            "answerable_kept": sum(o.relevant for o in answerable) / len(answerable),
        },
        "lowest_answerable_scores": [round(s, 4) for s in sorted(good)[:3]],
        "highest_unanswerable_scores": [round(s, 4) for s in sorted(bad)[-3:]],
        "latency_ms_p50": statistics.median(latencies),
        "latency_ms_p95": percentile(latencies, 95),
    }


def synthetic_corpus(docs: Path, count: int, seed: int = 7) -> list[str]:
    """One-sentence chunks of random words of the eval documents and random numbers."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    text = " ".join(p.read_text("utf-8") for p in docs.glob("*.md"))
    words = [w for w in re.findall(r"[^\W_]+", text) if not w.isdigit()]
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(20, 45))) + f" {rng.randint(1, 999)}."
        for _ in range(count)
    ]


def scale_test(
    data_dir: Path, embedder: UseEmbeddings, questions: list[Question]
) -> dict[str, Any]:
    corpus_dir = data_dir / "synthetic"
    corpus_dir.mkdir()
    texts = synthetic_corpus(EVAL_DIR / "docs", SCALE_CHUNKS)
    per_file = 100
    for n in range(0, len(texts), per_file):
        (corpus_dir / f"syn-{n // per_file:03d}.txt").write_text(
            "\n\n".join(texts[n : n + per_file])
        )
    client = open_local_client(data_dir / "scale")
    store = KnowledgeStore(client, embedder, collection="scale", max_sentences=1)
    started = time.perf_counter()
    results = store.ingest_paths([corpus_dir])
    ingest_s = time.perf_counter() - started
    out: dict[str, Any] = {"chunks": sum(r.chunks for r in results), "ingest_s": ingest_s}
    for name, weight in (("dense", 0.0), ("hybrid", DEFAULT_KEYWORD_WEIGHT)):
        retriever = Retriever(store, keyword_weight=weight)
        started = time.perf_counter()
        retriever.prepare()  # as at the appliance's start: keyword index, vocabulary
        prepare_s = time.perf_counter() - started
        retriever.retrieve("warm-up")
        ms = [retriever.retrieve(q.text).seconds * 1000 for q in questions * 3]
        out[name] = {
            "p50_ms": statistics.median(ms),
            "p95_ms": percentile(ms, 95),
            "prepare_s": prepare_s,
        }
    client.close()
    return out


def ingest_eval(data_dir: Path, embedder: UseEmbeddings) -> tuple[KnowledgeStore, dict[str, Any]]:
    store = KnowledgeStore(open_local_client(data_dir), embedder, collection="eval")
    embedder.load()
    started = time.perf_counter()
    results = store.ingest_paths([EVAL_DIR / "docs"])
    seconds = time.perf_counter() - started
    chunks = sum(r.chunks for r in results)
    return store, {
        "documents": len(results),
        "chunks": chunks,
        "seconds": seconds,
        "chunks_per_s": chunks / seconds,
    }


def run(threads: int, with_scale: bool) -> dict[str, Any]:
    questions = load_questions(EVAL_DIR / "questions.jsonl")
    embedder = UseEmbeddings(threads=threads)
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        store, ingestion = ingest_eval(Path(tmp) / "eval", embedder)
        report: dict[str, Any] = {
            "embedding": "use-multilingual-v3",
            "threads": threads,
            "ingestion": ingestion,
        }
        for name, weight in (("dense", 0.0), ("hybrid", DEFAULT_KEYWORD_WEIGHT)):
            retriever = Retriever(store, keyword_weight=weight, min_score=DEFAULT_MIN_SCORE)
            retriever.prepare()
            report[name] = evaluate(retriever, questions)
        store.client.close()
        if with_scale:
            report["scale_10k"] = scale_test(Path(tmp), embedder, questions)
    return report


def print_table(report: dict[str, Any]) -> None:
    ing = report["ingestion"]
    print(
        f"ingestion: {ing['documents']} docs, {ing['chunks']} chunks, "
        f"{ing['chunks_per_s']:.1f} chunks/s"
    )
    header = ("mode", "R@1", "R@5", "MRR", "unans.det", "ans.kept", "thr", "p50 ms", "p95 ms")
    print("  ".join(f"{h:>9}" for h in header))
    for mode in ("dense", "hybrid"):
        for which in ("fitted", "configured"):
            r, d = report[mode], report[mode][which]
            cells = (
                f"{mode}/{which[:3]}",
                f"{r['recall@1']:.3f}",
                f"{r['recall@5']:.3f}",
                f"{r['mrr']:.3f}",
                f"{d['unanswerable_detected']:.2f}",
                f"{d['answerable_kept']:.2f}",
                f"{d['threshold']:.3f}" if isinstance(d["threshold"], float) else "calib.",
                f"{r['latency_ms_p50']:.1f}",
                f"{r['latency_ms_p95']:.1f}",
            )
            print("  ".join(f"{c:>9}" for c in cells))
    if "scale_10k" in report:
        s = report["scale_10k"]
        print(
            f"scale: {s['chunks']} chunks ingested in {s['ingest_s']:.1f} s; "
            f"dense p50/p95 {s['dense']['p50_ms']:.1f}/{s['dense']['p95_ms']:.1f} ms; "
            f"hybrid p50/p95 {s['hybrid']['p50_ms']:.1f}/{s['hybrid']['p95_ms']:.1f} ms; "
            f"prepare (index + vocabulary) {s['hybrid']['prepare_s']:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/knowledge.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-scale", action="store_true", help="skip the 10k-chunk test")
    args = parser.parse_args()
    report = run(args.threads, not args.no_scale)
    print_table(report)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
