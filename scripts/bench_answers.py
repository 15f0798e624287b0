"""Grounded-answer benchmark: does what the agent would say contain the expected facts?

Ingests ``shared/eval/kb/docs`` into a fresh data dir, starts the real engines
(embedded LLM included) with that knowledge base, and asks every question of
``questions.jsonl`` through the agent's responder in each answer mode:
- ``extractive``: the passages' best sentences (the embedded tier's default);
- ``generative``: the LLM answers from the passages, every chunk passes the
  grounding check, the extractive answer replaces a failing one.
It reports, per mode, the share of answerable questions whose spoken answer
contains all expected facts (numbers compared in normal form, so "zwei" = "2"),
how often the grounding check rejected the LLM, the "not in the knowledge base"
decisions, and the answer latency p50/p95 (question text in → full answer text).

    ./scripts/python scripts/bench_answers.py [--out bench-results/answers.json]
        [--modes extractive] [--questions tests/data/kb_relevance_dev.jsonl]

``--questions`` asks another question file about the same documents (the
development set of the relevance decision); ``--modes`` limits the answer modes
(``extractive`` alone needs no LLM answers and runs in seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.agent.facts import extract_facts
from appliance.agent.responder import AnswerNotes, Responder
from appliance.config import load_settings
from appliance.engines import Engines
from appliance.knowledge.service import open_knowledge
from appliance.llm.client import StreamStats
from scripts.stats import percentile, write_report

EVAL_DIR = Path(__file__).resolve().parents[1].parent / "shared/eval/kb"


def states_fact(answer: str, fact: str) -> bool:
    if fact.lower() in answer.lower():
        return True
    wanted = extract_facts(fact, names=False).numbers
    return bool(wanted) and wanted <= extract_facts(answer, names=False).numbers


async def ask_all(responder: Responder, questions: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for q in questions:
        notes = AnswerNotes()
        started = time.perf_counter()
        chunks = [c async for c in responder.reply([], q["question"], StreamStats(), notes)]
        seconds = time.perf_counter() - started
        text = " ".join(c.text for c in chunks)
        rows.append(
            {
                "id": q["id"],
                "answerable": q["doc"] is not None,
                "mode": notes.mode,
                "grounding": notes.grounding,
                "facts_ok": q["doc"] is not None and all(states_fact(text, f) for f in q["facts"]),
                "ms": seconds * 1000,
            }
        )
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    generated = [r for r in rows if r["grounding"] != "not_checked"]
    ms = [r["ms"] for r in rows]
    return {
        "facts_rate": sum(r["facts_ok"] for r in answerable) / len(answerable),
        "facts_missed": [r["id"] for r in answerable if not r["facts_ok"]],
        "answerable_kept": sum(r["mode"] != "not_found" for r in answerable) / len(answerable),
        "unanswerable_detected": sum(r["mode"] == "not_found" for r in unanswerable)
        / max(1, len(unanswerable)),
        "grounding_checked": len(generated),
        "grounding_failed": sum(r["grounding"] == "failed" for r in generated),
        "spoken_modes": {m: sum(r["mode"] == m for r in rows) for m in {r["mode"] for r in rows}},
        "latency_ms_p50": statistics.median(ms),
        "latency_ms_p95": percentile(ms, 95),
    }


def load_questions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


async def run(
    questions: list[dict[str, Any]], questions_file: Path, modes: tuple[str, ...]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="answers-bench-") as tmp:
        settings = load_settings(
            environ={
                "HOME": tmp,
                "APPLIANCE_DATA_DIR": tmp,
                "APPLIANCE_LOG__LEVEL": "WARNING",
                # Generous LLM timeouts: this measures what the model says, not
                # whether a loaded 2-core box answers within the call-time limits.
                "APPLIANCE_LLM__FIRST_TOKEN_TIMEOUT_S": "30",
                "APPLIANCE_LLM__TOTAL_TIMEOUT_S": "60",
            }
        )
        knowledge = open_knowledge(settings)
        knowledge.store.ingest_paths([EVAL_DIR / "docs"])
        knowledge.close()
        engines = await Engines.start(settings)
        try:
            assert engines.knowledge is not None
            report: dict[str, Any] = {
                "questions": len(questions),
                "question_file": str(questions_file),
                "llm": settings.llm.model,
            }
            for mode in modes:
                tuned = settings.with_overrides(knowledge={"answer_mode": mode})
                responder = Responder(engines.llm, tuned, engines.knowledge.lookup(tuned))
                report[mode] = await ask_all(responder, questions)
        finally:
            await engines.close()
    return report


def print_table(report: dict[str, Any]) -> None:
    header = ("mode", "facts", "ans.kept", "unans.det", "LLM rejected", "p50 ms", "p95 ms")
    print("  ".join(f"{h:>12}" for h in header))
    for mode in ("extractive", "generative"):
        if mode not in report:
            continue
        r = report[mode]
        rejected = f"{r['grounding_failed']}/{r['grounding_checked']}"
        cells = (
            mode,
            f"{r['facts_rate']:.3f}",
            f"{r['answerable_kept']:.3f}",
            f"{r['unanswerable_detected']:.2f}",
            rejected,
            f"{r['latency_ms_p50']:.0f}",
            f"{r['latency_ms_p95']:.0f}",
        )
        print("  ".join(f"{c:>12}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/answers.json"))
    parser.add_argument("--questions", type=Path, default=EVAL_DIR / "questions.jsonl")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=("extractive", "generative"),
        default=["extractive", "generative"],
    )
    args = parser.parse_args()
    report = asyncio.run(run(load_questions(args.questions), args.questions, tuple(args.modes)))
    print_table(report)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
