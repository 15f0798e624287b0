"""Escalation-detection benchmark: precision/recall per label, false escalations, speed.

Classifies every utterance of the shared dev set (``shared/eval/escalation.jsonl``),
of this repository's development set (``tests/data/escalation_dev.jsonl``, the
sentences the lexicon was developed on) and of its hold-out set
(``tests/data/escalation_holdout.jsonl``: 120 sentences written after the last change
to the lexicon and the model and never tuned on; earlier hold-out rounds were
folded into the development set after they were measured) with
the detector with default settings (rules, then the linear backstop) and with
rules alone, and reports per label precision
and recall, the false-escalation rate on ``none`` (share of ``none`` utterances
that would have been handed to a person), the confusion matrix and the latency
per utterance (p50/p95 over several passes, after a warm-up).

    PYTHONPATH=. python scripts/bench_escalation.py [--out bench-results/escalation.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.escalation import LABELS, EscalationDetector, EscalationSettings, Label
from scripts.stats import percentile

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "shared_eval": REPO.parent / "shared/eval/escalation.jsonl",
    "dev": REPO / "tests/data/escalation_dev.jsonl",
    "holdout": REPO / "tests/data/escalation_holdout.jsonl",
}
TARGET_RECALL: dict[Label, float] = {
    "emergency": 0.95,
    "human_request": 0.95,
    "complex": 0.85,
    "emotional": 0.85,
}
TARGET_FALSE_ESCALATION = 0.10
TARGET_P95_MS = 20.0


@dataclass(frozen=True)
class Example:
    lang: str
    text: str
    label: Label


def load(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [Example(r["lang"], r["text"], r["label"]) for r in rows]


def evaluate(detector: EscalationDetector, examples: list[Example], passes: int) -> dict[str, Any]:
    for ex in examples[:5]:
        detector.classify(ex.text)  # warm-up
    predictions: list[Label] = []
    latencies: list[float] = []
    for n in range(passes):
        for ex in examples:
            started = time.perf_counter()
            result = detector.classify(ex.text)
            latencies.append((time.perf_counter() - started) * 1000)
            if n == 0:
                predictions.append(result.label)
    per_label: dict[str, dict[str, float | int]] = {}
    for label in LABELS:
        tp = sum(
            p == label and e.label == label for p, e in zip(predictions, examples, strict=True)
        )
        predicted = sum(p == label for p in predictions)
        actual = sum(e.label == label for e in examples)
        per_label[label] = {
            "n": actual,
            "precision": tp / predicted if predicted else 1.0,
            "recall": tp / actual if actual else 1.0,
        }
    nones = [p for p, e in zip(predictions, examples, strict=True) if e.label == "none"]
    confusion = {
        gold: {pred: 0 for pred in LABELS} for gold in LABELS
    }  # gold -> predicted -> count
    for p, e in zip(predictions, examples, strict=True):
        confusion[e.label][p] += 1
    errors = [
        {"gold": e.label, "predicted": p, "text": e.text}
        for p, e in zip(predictions, examples, strict=True)
        if p != e.label
    ]
    return {
        "utterances": len(examples),
        "accuracy": sum(p == e.label for p, e in zip(predictions, examples, strict=True))
        / len(examples),
        "per_label": per_label,
        "false_escalation_rate": sum(p != "none" for p in nones) / len(nones) if nones else 0.0,
        "confusion": confusion,
        "errors": errors,
        "latency_ms_p50": statistics.median(latencies),
        "latency_ms_p95": percentile(latencies, 95),
        "latency_ms_max": max(latencies),
    }


def targets_met(report: dict[str, Any]) -> dict[str, bool]:
    per = report["per_label"]
    met = {f"recall_{label}": per[label]["recall"] >= t for label, t in TARGET_RECALL.items()}
    met["false_escalation"] = report["false_escalation_rate"] <= TARGET_FALSE_ESCALATION
    met["p95_latency"] = report["latency_ms_p95"] <= TARGET_P95_MS
    return met


def print_table(name: str, report: dict[str, Any]) -> None:
    print(f"\n{name}: {report['utterances']} utterances, accuracy {report['accuracy']:.3f}")
    print(f"{'label':>14}  {'n':>4}  {'precision':>9}  {'recall':>6}  {'target R':>8}")
    for label in LABELS:
        row = report["per_label"][label]
        target = TARGET_RECALL.get(label)
        print(
            f"{label:>14}  {row['n']:>4}  {row['precision']:>9.3f}  {row['recall']:>6.3f}  "
            f"{'' if target is None else f'>={target:.2f}':>8}"
        )
    print(
        f"false escalation on none: {report['false_escalation_rate']:.3f} "
        f"(target <= {TARGET_FALSE_ESCALATION:.2f}); latency p50/p95 "
        f"{report['latency_ms_p50']:.2f}/{report['latency_ms_p95']:.2f} ms "
        f"(target p95 <= {TARGET_P95_MS:.0f} ms)"
    )
    missed = [k for k, ok in report["targets_met"].items() if not ok]
    print("targets: " + ("all met" if not missed else "missed " + ", ".join(missed)))
    for err in report["errors"]:
        print(f"  {err['gold']:>13} -> {err['predicted']:<13} {err['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/escalation.json"))
    parser.add_argument("--passes", type=int, default=5, help="timing passes over each set")
    args = parser.parse_args()
    detectors = {
        "rules+model": EscalationDetector(),
        "rules": EscalationDetector(EscalationSettings(model_backstop=False)),
    }
    report: dict[str, Any] = {"detector": "appliance.escalation, default settings", "sets": {}}
    for name, path in SETS.items():
        if not path.exists():
            print(f"{name}: {path} not found, skipped")
            continue
        report["sets"][name] = {"file": str(path)}
        for variant, detector in detectors.items():
            result = evaluate(detector, load(path), args.passes)
            result["targets_met"] = targets_met(result)
            report["sets"][name][variant] = result
            print_table(f"{name} [{variant}]", result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
