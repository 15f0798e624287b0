"""The command line as an operator uses it: real processes, real models."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.audio.wav import read_wav, write_wav
from appliance.config import Settings
from appliance.engines import Engines
from models.registry import ModelRegistry
from tests.conftest import REPO
from tests.support.calls import RATE, say, voiced_ms
from tests.support.speech import silence


def appliance(
    *args: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(data_dir),
        "PYTHONPATH": str(REPO),
        "APPLIANCE_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = appliance("--help", data_dir=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "call", "config", "models"):
        assert command in result.stdout
    assert "APPLIANCE_" in result.stdout


def test_config_check_accepts_defaults_and_explains_mistakes(tmp_path: Path) -> None:
    good = appliance("config", "check", data_dir=tmp_path)
    assert good.returncode == 0
    assert "configuration is valid" in good.stdout
    bad = appliance(
        "config", "check", data_dir=tmp_path, env={"APPLIANCE_TURN__END_OF_TURN_MS": "soon"}
    )
    assert bad.returncode == 3
    assert "turn.end_of_turn_ms" in bad.stderr
    assert "APPLIANCE_TURN__END_OF_TURN_MS" in bad.stderr


def test_models_lists_the_manifest_with_licences(tmp_path: Path) -> None:
    result = appliance("models", data_dir=tmp_path)
    assert result.returncode == 0
    for needle in ("whisper-tiny.en", "piper-en_US-joe-medium", "smollm2-135m-instruct", "MIT"):
        assert needle in result.stdout


@pytest.mark.asyncio
async def test_call_simulates_a_phone_call_from_a_wav_file(
    tmp_path: Path, engines: Engines, settings: Settings
) -> None:
    question = await say(engines, "When can I call to book an outpatient appointment?")
    caller_wav = tmp_path / "caller.wav"
    write_wav(caller_wav, np.concatenate([question, silence(400)]), RATE)
    out, events = tmp_path / "reply.wav", tmp_path / "events.jsonl"
    result = appliance(
        "call",
        str(caller_wav),
        "--fast",
        "--out",
        str(out),
        "--events",
        str(events),
        "--dialled",
        "2300",
        data_dir=tmp_path,
        env={"APPLIANCE_KNOWLEDGE__ROUTES": '{"2300": "radiologie"}'},
    )
    assert result.returncode == 0, result.stderr
    caller_lines = [line for line in result.stdout.splitlines() if " caller " in line]
    assert len(caller_lines) == 1
    assert "appointment" in caller_lines[0].lower()
    assert "voice-to-voice" in result.stdout
    assert "call ended: caller_hangup" in result.stdout
    reply, rate = read_wav(out)
    assert rate == RATE
    assert voiced_ms(reply) > 3000
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [event["kind"] for event in recorded]
    assert kinds[0] == "call_started"
    # The dialled number picked the routed knowledge base, opened at start-up.
    assert (recorded[0]["dialled"], recorded[0]["collection"]) == ("2300", "radiologie")
    assert kinds[-1] == "call_ended"
    assert "turn_timings" in kinds
    # operational logs never carry what the caller said
    assert "appointment" not in result.stderr.lower()


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [(b"GIF89a not audio", 2, "AUDIO_NOT_WAV"), (b"", 2, "AUDIO_NOT_WAV")],
)
def test_call_rejects_bad_files_clearly(
    tmp_path: Path, content: bytes, code: int, message: str
) -> None:
    path = tmp_path / "caller.wav"
    path.write_bytes(content)
    result = appliance("call", str(path), data_dir=tmp_path)
    assert result.returncode == code
    assert message in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_model_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    registry = ModelRegistry(data_dir=tmp_path / "probe")
    voice = registry.path("piper-en_US-joe-medium")
    bundle = tmp_path / "bundle" / "piper-en_US-joe-medium"
    bundle.mkdir(parents=True)
    for file in (voice, voice.with_name(voice.name + ".json")):
        shutil.copy(file, bundle / file.name)
    damaged = bytearray((bundle / voice.name).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (bundle / voice.name).write_bytes(bytes(damaged))
    caller = tmp_path / "caller.wav"
    write_wav(caller, silence(500), RATE)
    result = appliance(
        "call",
        str(caller),
        data_dir=tmp_path,
        env={"APPLIANCE_MODELS__BUNDLE_DIR": str(tmp_path / "bundle")},
    )
    assert result.returncode == 3
    assert "MODEL_CORRUPT" in result.stderr
    assert voice.name in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_health(server: subprocess.Popen[bytes], port: int) -> dict[str, Any] | None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                health: dict[str, Any] = json.loads(answer.read())
                return health
        except OSError:
            time.sleep(0.5)
    return None


@pytest.mark.parametrize("demo", [False, True], ids=["plain", "demo"])
def test_serve_runs_reports_health_and_stops_cleanly(tmp_path: Path, demo: bool) -> None:
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "APPLIANCE_DATA_DIR": str(tmp_path),
        "APPLIANCE_HTTP__PORT": str(port),
    }
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", *(["--demo"] if demo else [])],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            health = _wait_for_health(server, port)
            assert health is not None, stderr_path.read_text()
            assert health["status"] == "ok"
            assert health["llm"]["running"] is True
            assert "whisper-tiny.en" in health["models"]
            if demo:  # the demo back-end runs and its connectors are the agent's tools
                assert {"verify_caller", "case_status", "book_appointment"} <= set(health["tools"])
                assert "demo back-end" in stderr_path.read_text()
            else:
                assert health["tools"] == []
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
    assert code == 0
    log = (tmp_path / "logs" / "llm-server.log").read_text()
    assert "Shutting down" in log or "Finished server process" in log


def test_the_readme_launcher_runs_the_cli_from_its_cached_environment(tmp_path: Path) -> None:
    # sys.executable is <cache>/venv-<lock hash>/bin/python when run by scripts/test.sh
    cache = Path(sys.executable).parents[2]
    result = subprocess.run(
        [str(REPO / "scripts" / "appliance"), "config", "check"],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "VOICE_APPLIANCE_CACHE_DIR": str(cache),
            "APPLIANCE_DATA_DIR": str(tmp_path / "data"),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout
    assert str(tmp_path / "data") in result.stdout
