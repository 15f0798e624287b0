"""Tool-choice benchmark: the deterministic router and the embedded LLM on scripted caller turns.

Each line of ``tests/data/tool_turns.jsonl`` is one caller turn (German or
English, with or without a verified caller) and what should happen: a tool
with its arguments, the detail the agent must ask for, or no tool at all.
Reported separately:
- router: the embedded tier's intent router + slot filler (what the demo uses);
- llm: the same 135M model served by vLLM with the same tools and automatic
  tool choice (the production path; llama.cpp's server streams only forced
  tool calls, so it cannot choose). Only turns that expect a tool are scored.
A turn is right when the tool is the expected one and its arguments are the
expected values and valid for the connector's schema.

    ./scripts/python scripts/bench_tools.py [--out bench-results/tools.json] [--no-llm]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.agent.router import IntentRouter, MissingSlot, RoutedCall
from appliance.demo_backend.connectors import demo_tools
from appliance.llm.client import ChatMessage, ToolCalls
from appliance.tools.identity import CallerIdentity
from appliance.tools.schema import argument_problems
from appliance.tools.settings import ToolsSettings
from models.registry import ModelRegistry
from scripts.stats import percentile, write_report
from tests.support.vllm_server import VllmServer, prepare_vllm_env, vllm_client

TURNS = Path(__file__).resolve().parents[1] / "tests/data/tool_turns.jsonl"
TODAY = dt.date(2026, 11, 23)  # the dates in the turns are relative to this Monday
CUSTOMER = "100234"
FILLED_AT_RUN_TIME = {"appointment_id"}  # the router looks up the appointment to move


def load_turns() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TURNS.read_text("utf-8").splitlines() if line.strip()]


def valid(tools: ToolsSettings, name: str, arguments: dict[str, Any]) -> bool:
    connector = next((c for c in tools.connectors if c.name == name), None)
    if connector is None:
        return False
    problems = argument_problems(connector.parameters, arguments)
    return all(any(f"'{arg}'" in p for arg in FILLED_AT_RUN_TIME) for p in problems)


def judge(
    expect: dict[str, Any] | None, got: RoutedCall | MissingSlot | None, tools: ToolsSettings
) -> bool:
    if expect is None:
        return got is None
    if "missing" in expect:
        return isinstance(got, MissingSlot) and got.slot == expect["missing"]
    return (
        isinstance(got, RoutedCall)
        and got.name == expect["tool"]
        and got.arguments == expect["args"]
        and valid(tools, got.name, got.arguments)
    )


def run_router(turns: list[dict[str, Any]], tools: ToolsSettings) -> dict[str, Any]:
    router = IntentRouter(today=lambda: TODAY)
    rows, ms = [], []
    for turn in turns:
        identity = CallerIdentity()
        if turn["verified"]:
            identity.verify(CUSTOMER)
        started = time.perf_counter()
        got = router.route(turn["text"], identity)
        ms.append((time.perf_counter() - started) * 1000)
        rows.append((turn, judge(turn["expect"], got, tools)))
    tool_turns = [ok for turn, ok in rows if turn["expect"] and "tool" in turn["expect"]]
    return {
        "turns": len(rows),
        "correct": sum(ok for _, ok in rows) / len(rows),
        "tool_turns_correct": sum(tool_turns) / len(tool_turns),
        "by_language": {
            lang: sum(ok for t, ok in rows if t["lang"] == lang)
            / sum(t["lang"] == lang for t, _ in rows)
            for lang in ("de", "en")
        },
        "misses": [t["text"] for t, ok in rows if not ok],
        "latency_ms_p50": statistics.median(ms),
        "latency_ms_p95": percentile(ms, 95),
    }


async def run_llm(turns: list[dict[str, Any]], tools: ToolsSettings) -> dict[str, Any]:
    """The same turns through vLLM serving the embedded model with automatic tool choice."""
    declared = [
        {
            "type": "function",
            "function": {"name": c.name, "description": c.description, "parameters": c.parameters},
        }
        for c in tools.connectors
    ]
    with tempfile.TemporaryDirectory(prefix="tools-bench-") as tmp:
        gguf = ModelRegistry(data_dir=Path(tmp)).path("smollm2-135m-instruct")
        server = VllmServer(prepare_vllm_env(gguf), log_path=Path(tmp) / "vllm.log")
        picked, right, ms = 0, 0, []
        async with server:
            client = vllm_client(server.base_url)
            async with client:
                for turn in turns:
                    system = "You are a phone assistant. Today is 2026-11-23."
                    if turn["verified"]:
                        system += f" The verified caller's customer number is {CUSTOMER}."
                    messages = [
                        ChatMessage(role="system", content=system),
                        ChatMessage(role="user", content=turn["text"]),
                    ]
                    started = time.perf_counter()
                    calls: tuple[Any, ...] = ()
                    async for event in client.stream_events(
                        messages, max_tokens=96, temperature=0.0, tools=declared, tool_choice="auto"
                    ):
                        if isinstance(event, ToolCalls):
                            calls = event.calls
                    ms.append((time.perf_counter() - started) * 1000)
                    expect = turn["expect"]
                    if not calls or not expect or "tool" not in expect:
                        continue
                    picked += calls[0].name == expect["tool"]
                    try:
                        arguments = json.loads(calls[0].arguments or "{}")
                    except ValueError:
                        continue
                    right += calls[0].name == expect["tool"] and arguments == expect["args"]
    tool_turns = sum(1 for t in turns if t["expect"] and "tool" in t["expect"])
    return {
        "model": "SmolLM2-135M-Instruct on vLLM (tool_choice=auto, hermes parser)",
        "tool_turns": tool_turns,
        "tool_picked": picked / tool_turns,
        "tool_and_arguments_correct": right / tool_turns,
        "latency_ms_p50": statistics.median(ms),
        "latency_ms_p95": percentile(ms, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/tools.json"))
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM-only figure")
    args = parser.parse_args()
    turns = load_turns()
    tools = demo_tools("http://127.0.0.1:9")  # schemas only: nothing is called
    report: dict[str, Any] = {"router": run_router(turns, tools)}
    if not args.no_llm:
        report["llm"] = asyncio.run(run_llm(turns, tools))
    r = report["router"]
    print(
        f"router: {r['correct']:.1%} of {r['turns']} turns right "
        f"(tool turns {r['tool_turns_correct']:.1%}; de {r['by_language']['de']:.1%}, "
        f"en {r['by_language']['en']:.1%}); p50/p95 {r['latency_ms_p50']:.2f}/"
        f"{r['latency_ms_p95']:.2f} ms"
    )
    for miss in r["misses"]:
        print(f"  miss: {miss}")
    if "llm" in report:
        m = report["llm"]
        print(
            f"llm only: tool picked {m['tool_picked']:.1%}, tool and arguments right "
            f"{m['tool_and_arguments_correct']:.1%} of {m['tool_turns']} tool turns; "
            f"p50/p95 {m['latency_ms_p50']:.0f}/{m['latency_ms_p95']:.0f} ms"
        )
    write_report(args.out, report)


if __name__ == "__main__":
    main()
