"""Relevance and extractive-answer benchmark without the LLM: fast enough to tune on.

Ingests ``shared/eval/kb/docs`` into a fresh Qdrant local-mode store (USE
multilingual v3) and asks the questions of the development set
``tests/data/kb_relevance_dev.jsonl`` and of the eval set ``questions.jsonl``.
For each set it reports the "not in the knowledge base" decision (unanswerable
recognised, answerable still answered), recall@1, the share of answerable
questions whose extractive answer states every expected fact (as
``bench_answers.py`` counts it: a refused question states nothing), and the
latency of retrieval + decision and of the extractive answer.

``--fit`` refits the model of ``appliance/knowledge/relevance.py`` on the
development set only (logistic regression on coverage minus absence, Newton
steps, a little L2), prints the coefficients, the cut-off that keeps 95 % of the
answerable dev questions answered, and the leave-one-out decision rates; the
eval set is never used for fitting. ``--holdout FILE`` adds a set of the same
form that is only checked (questions kept out of the fit on purpose).

    ./scripts/python scripts/bench_kb_relevance.py [--fit] [--holdout FILE]
        [--out bench-results/kb_relevance.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.agent.extractive import extractive_answer
from appliance.knowledge.embeddings import UseEmbeddings
from appliance.knowledge.ingest import KnowledgeStore, open_local_client
from appliance.knowledge.relevance import probability
from appliance.knowledge.retrieve import Retriever
from scripts.bench_answers import states_fact
from scripts.stats import percentile, write_report

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared/eval/kb"
DEV_SET = ROOT / "tests/data/kb_relevance_dev.jsonl"
CONTEXT_PASSAGES = 3  # as the responder's default knowledge.context_passages
L2 = 0.05

Floats = npt.NDArray[np.float64]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def ask(retriever: Retriever, q: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    result = retriever.retrieve(q["question"], k=5)
    retrieve_ms = (time.perf_counter() - started) * 1000
    top = result.passages[:CONTEXT_PASSAGES]
    relevance = result.relevance or retriever.judge_passage(
        q["question"], result.passages[0], result.passages[1:]
    )
    started = time.perf_counter()
    answer = extractive_answer(
        q["question"], [p.text for p in top], retriever.embedder, [p.score for p in top]
    )
    extract_ms = (time.perf_counter() - started) * 1000
    stated = q["doc"] is not None and all(states_fact(answer, f) for f in q["facts"])
    return {
        "id": q["id"],
        "answerable": q["doc"] is not None,
        "relevant": result.relevant,
        "coverage": relevance.coverage,
        "absence": relevance.absence,
        "feature": relevance.feature,
        "top_score": result.top_score,
        "rank1": bool(result.passages) and result.passages[0].source_file == q["doc"],
        "facts_if_answered": stated,
        "facts_ok": stated and result.relevant,
        "retrieve_ms": retrieve_ms,
        "extract_ms": extract_ms,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in rows if r["answerable"]]
    bad = [r for r in rows if not r["answerable"]]
    total = [r["retrieve_ms"] + r["extract_ms"] for r in rows]
    return {
        "answerable": len(good),
        "unanswerable": len(bad),
        "recall@1": sum(r["rank1"] for r in good) / len(good),
        "answerable_kept": sum(r["relevant"] for r in good) / len(good),
        "unanswerable_detected": sum(not r["relevant"] for r in bad) / max(1, len(bad)),
        "facts_rate": sum(r["facts_ok"] for r in good) / len(good),
        "facts_rate_if_answered": sum(r["facts_if_answered"] for r in good) / len(good),
        "facts_missed": [r["id"] for r in good if not r["facts_if_answered"]],
        "wrongly_refused": [r["id"] for r in good if not r["relevant"]],
        "wrongly_answered": [r["id"] for r in bad if r["relevant"]],
        "retrieve_ms_p50": statistics.median(r["retrieve_ms"] for r in rows),
        "retrieve_ms_p95": percentile([r["retrieve_ms"] for r in rows], 95),
        "answer_ms_p50": statistics.median(total),
        "answer_ms_p95": percentile(total, 95),
    }


def operating_points(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The trade-off at other probability cut-offs than the shipped one half."""
    out = []
    for cut in (0.2, 0.3, 0.38, 0.4, 0.5, 0.6, 0.7):
        point: dict[str, Any] = {"min_probability": cut}
        for name, found in rows.items():
            good = [r for r in found if r["answerable"]]
            bad = [r for r in found if not r["answerable"]]
            kept = [r for r in good if probability(r["feature"]) >= cut]
            point[name] = {
                "answerable_kept": round(len(kept) / len(good), 3),
                "unanswerable_detected": round(
                    sum(probability(r["feature"]) < cut for r in bad) / max(1, len(bad)), 3
                ),
                "facts_rate": round(sum(r["facts_if_answered"] for r in kept) / len(good), 3),
            }
        out.append(point)
    return out


def latency_pair(
    calibrated: Retriever, plain: Retriever, sets: dict[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Retrieval ms with and without the coverage decision, interleaved per question
    (word vectors warm, as in a running appliance), so machine load hits both alike."""
    ms: dict[str, list[float]] = {"calibrated": [], "plain": []}
    for q in [q for questions in sets.values() for q in questions]:
        for name, retriever in (("calibrated", calibrated), ("plain", plain)):
            ms[name].append(retriever.retrieve(q["question"], k=5).seconds * 1000)
    return {
        f"{name}_{stat}": value
        for name, values in ms.items()
        for stat, value in (
            ("p50_ms", statistics.median(values)),
            ("p95_ms", percentile(values, 95)),
        )
    }


def fit_logistic(x: Floats, y: Floats, l2: float = L2) -> tuple[float, float]:
    """(slope, intercept) of a one-feature logistic regression (Newton's method)."""
    design = np.column_stack([x, np.ones_like(x)])
    w = np.zeros(2)
    penalty = np.diag([l2, 0.0])
    for _ in range(100):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return float(w[0]), float(w[1])


def fit_report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    x = np.array([r["feature"] for r in rows], dtype=np.float64)
    y = np.array([float(r["answerable"]) for r in rows])
    slope, intercept = fit_logistic(x, y)
    # The operating point: the highest cut-off that keeps 95 % of answerable questions.
    answerable = np.sort(x[y == 1])
    lowest_kept = float(answerable[int(np.floor(0.05 * len(answerable)))])
    cut = 1 / (1 + np.exp(-(intercept + slope * lowest_kept)))
    keep = []
    for i in range(len(x)):  # leave-one-out: is each question decided right when held out?
        mask = np.arange(len(x)) != i
        s, c = fit_logistic(x[mask], y[mask])
        keep.append(s * x[i] + c >= 0)
    return {
        "slope": round(slope, 2),
        "intercept": round(intercept, 2),
        "feature_at_one_half": round(-intercept / slope, 4),
        "min_probability_for_95pct_answered": round(float(cut), 3),
        "loo_answerable_kept": float(np.mean([k for k, a in zip(keep, y, strict=True) if a])),
        "loo_unanswerable_detected": float(
            np.mean([not k for k, a in zip(keep, y, strict=True) if not a])
        ),
    }


def run(fit: bool, threads: int, holdout: Path | None) -> dict[str, Any]:
    sets = {"dev": load(DEV_SET), "eval": load(EVAL_DIR / "questions.jsonl")}
    if holdout is not None:
        sets["holdout"] = load(holdout)
    embedder = UseEmbeddings(threads=threads)
    with tempfile.TemporaryDirectory(prefix="kb-relevance-") as tmp:
        store = KnowledgeStore(open_local_client(Path(tmp)), embedder, collection="eval")
        store.ingest_paths([EVAL_DIR / "docs"])
        retriever = Retriever(store)
        retriever.prepare()  # the collection's vocabulary, as at the appliance's start
        retriever.retrieve("warm-up", k=5)
        report: dict[str, Any] = {}
        rows = {}
        for name, questions in sets.items():
            rows[name] = [ask(retriever, q) for q in questions]
            report[name] = summarise(rows[name])
        report["operating_points"] = operating_points(rows)
        report["latency"] = latency_pair(retriever, Retriever(store, calibrated=False), sets)
        if fit:
            report["fit_on_dev"] = fit_report(rows["dev"])
        report["rows"] = rows
        store.client.close()
    return report


def print_table(report: dict[str, Any]) -> None:
    header = ("set", "R@1", "ans.kept", "unans.det", "facts", "facts|ans", "p50 ms", "p95 ms")
    print("  ".join(f"{h:>9}" for h in header))
    names = [name for name in ("dev", "eval", "holdout") if name in report]
    for name in names:
        r = report[name]
        cells = (
            name,
            f"{r['recall@1']:.3f}",
            f"{r['answerable_kept']:.3f}",
            f"{r['unanswerable_detected']:.3f}",
            f"{r['facts_rate']:.3f}",
            f"{r['facts_rate_if_answered']:.3f}",
            f"{r['answer_ms_p50']:.1f}",
            f"{r['answer_ms_p95']:.1f}",
        )
        print("  ".join(f"{c:>9}" for c in cells))
        print(
            f"  {name}: refused {r['wrongly_refused']}, answered {r['wrongly_answered']}, "
            f"facts missed {r['facts_missed']}"
        )
    for point in report["operating_points"]:
        marks = [f"p>={point['min_probability']:.2f}"]
        for name in names:
            d = point[name]
            marks.append(
                f"{name} kept {d['answerable_kept']:.3f} detected "
                f"{d['unanswerable_detected']:.3f} facts {d['facts_rate']:.3f}"
            )
        print("  ".join(marks))
    lat = report["latency"]
    print(
        f"retrieval (warm, interleaved): calibrated p50/p95 {lat['calibrated_p50_ms']:.1f}/"
        f"{lat['calibrated_p95_ms']:.1f} ms, score floor only {lat['plain_p50_ms']:.1f}/"
        f"{lat['plain_p95_ms']:.1f} ms"
    )
    if "fit_on_dev" in report:
        print(f"fit on dev: {report['fit_on_dev']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/kb_relevance.json"))
    parser.add_argument("--fit", action="store_true", help="refit the coverage model on dev")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--holdout", type=Path, help="a further question set, only checked")
    args = parser.parse_args()
    report = run(args.fit, args.threads, args.holdout)
    print_table(report)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
