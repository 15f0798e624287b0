"""``appliance``: run the appliance, simulate a call, check the configuration."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from appliance import __version__
from appliance.audio.resample import resample
from appliance.audio.wav import read_wav, write_wav
from appliance.calls.bus import EventBus
from appliance.calls.events import (
    AgentText,
    AnswerSources,
    BackchannelIgnored,
    BargeIn,
    CallEvent,
    ErrorRaised,
    HandoffRequested,
    SpeechStarted,
    ToolCalled,
    TranscriptFinal,
    TurnTimings,
)
from appliance.calls.session import CallRecord, new_call_id, run_call
from appliance.config import Settings, load_settings
from appliance.errors import ApplianceError, AudioInputError, ConfigError, ModelError
from appliance.logs import setup_logging
from appliance.telephony.simulated import CallerTurn, SimulatedCaller

log = logging.getLogger("appliance")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SETUP = 0, 1, 2, 3

DESCRIPTION = """\
On-premise voice agent appliance. Callers are heard by Whisper, answered by a
local LLM and spoken to by Piper; nothing leaves the machine.

Configuration comes from an optional TOML file (--config or APPLIANCE_CONFIG)
and APPLIANCE_* environment variables, e.g. APPLIANCE_DATA_DIR=/var/lib/appliance
or APPLIANCE_LLM__BASE_URL=http://vllm.internal:8000/v1 (sections joined by __).
"""


def _progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


# -- appliance call -----------------------------------------------------------


def _speaker_line(event: CallEvent, out: TextIO) -> None:
    stamp = f"[{event.media_ms / 1000:7.2f}s]"
    if isinstance(event, TranscriptFinal):
        print(f"{stamp} caller  {event.text}", file=out)
    elif isinstance(event, AgentText):
        tag = "" if event.source == "llm" else f" ({event.source})"
        print(f"{stamp} agent   {event.text}{tag}", file=out)
    elif isinstance(event, BargeIn):
        print(f"{stamp} ——      caller barged in; agent stopped", file=out)
    elif isinstance(event, BackchannelIgnored):
        print(f"{stamp} ——      backchannel, agent continues", file=out)
    elif isinstance(event, ErrorRaised):
        print(f"{stamp} !!      {event.code} in {event.stage}", file=out)
    elif isinstance(event, ToolCalled):
        print(
            f"{stamp} tool    {event.name} -> {event.outcome} ({event.duration_ms:.0f} ms)",
            file=out,
        )
    elif isinstance(event, AnswerSources):
        docs = ", ".join(sorted({p.doc_id for p in event.passages})) or "-"
        print(f"{stamp} sources {event.mode} ({docs})", file=out)
    elif isinstance(event, HandoffRequested):
        where = "" if event.human_available else ", nobody available: callback offered"
        print(f"{stamp} ——      handoff: {event.reason}{where}", file=out)
    elif isinstance(event, TurnTimings):
        print(f"{'':11} {_timing_text(event)}", file=out)
    out.flush()


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _timing_text(t: TurnTimings) -> str:
    return (
        f"turn {t.turn_id}: voice-to-voice {_fmt(t.voice_to_voice_ms)} "
        f"(end of speech→transcript {_fmt(t.end_of_speech_to_transcript_ms)}, "
        f"LLM first token {_fmt(t.llm_first_token_ms)}, "
        f"TTS first audio {_fmt(t.tts_first_audio_ms)}"
        f"{', speculative' if t.speculative else ''})"
    )


async def _call(args: argparse.Namespace, settings: Settings) -> int:
    audio, rate = read_wav(args.file)
    audio = resample(audio, rate, args.rate)
    from appliance.engines import Engines  # heavy imports only when needed

    engines = await Engines.start(settings, progress=_progress)
    try:
        caller = SimulatedCaller(
            [CallerTurn(audio, after_agent_idle_ms=300 if args.realtime else None)],
            sample_rate=args.rate,
            realtime=args.realtime,
            dialled=args.dialled,
        )
        bus = EventBus()
        call_id = new_call_id()
        live = bus.subscribe(call_id)

        async def show() -> None:
            async for event in live:
                _speaker_line(event, sys.stdout)

        printer = asyncio.create_task(show())
        _progress(f"calling ({'realtime' if args.realtime else 'fast'}) with {args.file}")
        record = await run_call(engines, caller, settings, bus=bus, call_id=call_id)
        live.close()
        await printer
    finally:
        await engines.close()
    _summary(record, args)
    if args.out:
        write_wav(args.out, caller.recording.agent_audio(), args.rate)
        _progress(f"agent audio written to {args.out}")
    if args.events:
        with args.events.open("w", encoding="utf-8") as handle:
            for event in record.events:
                handle.write(json.dumps(event.to_dict(), default=str, ensure_ascii=False) + "\n")
    return EXIT_OK


def _summary(record: CallRecord, args: argparse.Namespace) -> None:
    if not record.of(SpeechStarted):
        print(f"warning: no speech detected in {args.file}", file=sys.stderr)
    timings = record.of(TurnTimings)
    if timings:
        print("\nturn  speech  v2v      eos→text  llm-ttft  tts-first")
        for t in timings:
            print(
                f"{t.turn_id:>4}  {t.speech_ms / 1000:5.1f}s  {_fmt(t.voice_to_voice_ms):>7}  "
                f"{_fmt(t.end_of_speech_to_transcript_ms):>8}  {_fmt(t.llm_first_token_ms):>8}  "
                f"{_fmt(t.tts_first_audio_ms):>9}"
            )
    print(f"call ended: {record.end_reason}")


# -- appliance serve ----------------------------------------------------------


async def _serve(settings: Settings) -> int:
    import uvicorn

    from appliance.engines import Engines
    from appliance.web.app import create_app

    engines = await Engines.start(settings, progress=_progress)
    sip = None
    try:
        app = create_app(engines)
        if settings.sip.enabled:
            from appliance.telephony.sip.service import SipService

            sip = SipService(engines, settings)
            endpoint = await sip.start()
            app.state["sip"] = sip
            _progress(
                f"SIP {settings.sip.mode}: {endpoint.local_address}:{endpoint.local_port}"
                f" ({'+'.join(settings.sip.transports)})"
            )
        config = uvicorn.Config(
            app,
            host=settings.http.host,
            port=settings.http.port,
            log_config=None,
            access_log=False,
        )
        server = uvicorn.Server(config)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.handle_exit, signum, None)
        _progress(f"appliance ready: http://{settings.http.host}:{settings.http.port}/health")
        await server.serve()
    finally:
        if sip is not None:
            await sip.stop()
        await engines.close()
    return EXIT_OK


async def _serve_demo(settings: Settings) -> int:
    """``serve --demo``: the demo back-end on loopback, its tools, its handoff inbox."""
    from appliance.demo_backend.app import create_demo_backend
    from appliance.demo_backend.connectors import demo_tools
    from appliance.web.serving import serve_app

    async with serve_app(create_demo_backend()) as base:
        _progress(f"demo back-end (CRM, calendar, helpdesk): {base}")
        tools = demo_tools(base)
        demo = settings.with_overrides(
            tools=tools.model_dump(mode="json"),
            handoff={"webhook_url": f"{base}/api/handoffs"},
        )
        return await _serve(demo)


# -- appliance config / models ------------------------------------------------


def _config_check(settings: Settings) -> int:
    from appliance.engines import model_ids

    print("configuration is valid")
    print(f"  data_dir        {settings.data_dir}")
    print(f"  language        {settings.agent.language}")
    print(f"  speech-to-text  {settings.stt_model_id()}")
    print(f"  voice           {settings.tts.voice}")
    llm = "embedded llama.cpp server" if settings.uses_embedded_llm else settings.llm.base_url
    print(f"  LLM             {llm} (model {settings.llm.model})")
    print(f"  models needed   {', '.join(model_ids(settings))}")
    return EXIT_OK


def _models(settings: Settings, verify: bool) -> int:
    from appliance.engines import model_ids
    from models.registry import ModelRegistry

    registry = ModelRegistry(data_dir=settings.data_dir, bundle_dir=settings.models.bundle_dir)
    if verify:
        for model in registry.verify_all(model_ids(settings)):
            print(f"ok  {model.id:28} {model.path}")
        return EXIT_OK
    rows = [row.cells() for row in registry.describe()]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=False)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)))
    return EXIT_OK


# -- entry point --------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appliance",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="run the appliance (engines, HTTP health on http.host:http.port)"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="also run the demo back-end (invented customers, appointments, cases) on "
        "loopback and answer with its tools",
    )

    call = sub.add_parser(
        "call",
        help="simulate a phone call from a WAV file",
        description="Play CALLER.wav as a caller (several turns separated by silence), print "
        "both sides with timestamps and per-turn latency, and write the agent's audio.",
    )
    call.add_argument("file", type=Path, metavar="CALLER.wav")
    call.add_argument("--out", type=Path, metavar="REPLY.wav", help="write the agent's audio")
    call.add_argument("--events", type=Path, metavar="EVENTS.jsonl", help="write every call event")
    call.add_argument(
        "--dialled",
        default="",
        metavar="NUMBER",
        help="the number the caller dialled: picks the knowledge base as knowledge.routes does",
    )
    call.add_argument(
        "--rate",
        type=int,
        default=16_000,
        choices=[8_000, 16_000, 48_000],
        help="line sample rate of the simulated call (default 16000)",
    )
    pace = call.add_mutually_exclusive_group()
    pace.add_argument(
        "--realtime",
        dest="realtime",
        action="store_true",
        default=True,
        help="20 ms frames every 20 ms, as on a phone line (default)",
    )
    pace.add_argument(
        "--fast",
        dest="realtime",
        action="store_false",
        help="as fast as possible; the caller waits while the agent speaks",
    )

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    config_sub.add_parser("check", help="validate the configuration and print a summary")

    from appliance.knowledge.cli import add_parser as add_kb_parser

    add_kb_parser(sub)

    models = sub.add_parser("models", help="list the model manifest; --verify checks the files")
    models.add_argument("--verify", action="store_true", help="verify sha256 of the models in use")
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return asyncio.run(_serve_demo(settings) if args.demo else _serve(settings))
    if args.command == "call":
        return asyncio.run(_call(args, settings))
    if args.command == "config":
        return _config_check(settings)
    if args.command == "kb":
        from appliance.knowledge.cli import run as run_kb

        return run_kb(args, settings)
    return _models(settings, args.verify)


def main(argv: Sequence[str] | None = None) -> int:
    # Belt and braces: libraries that could reach a model hub are told not to.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        quiet = "WARNING" if args.command == "call" else None
        setup_logging(settings.log, level=args.log_level or quiet)
        return _run(args, settings)
    except AudioInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ConfigError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except ApplianceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
