"""``appliance serve`` with SIP configured: registers to Kamailio, answers, reports in /health."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.sip_peers import LOOPBACK, Kamailio, Sipp, free_port, sipp_scenario


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            health: dict[str, Any] = json.loads(answer.read())
            return health
    except OSError:
        return None


def _wait_health(server: subprocess.Popen[bytes], port: int, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    health: dict[str, Any] | None = None
    while time.monotonic() < deadline and server.poll() is None:
        health = _health(port)
        if health is not None and ready(health):
            return health
        time.sleep(0.5)
    raise AssertionError(f"serve never became ready: {health}")


@pytest.mark.slow
def test_serve_registers_answers_and_reports_sip_health(tmp_path: Path) -> None:
    password = "pw-" + secrets.token_hex(8)
    kamailio = Kamailio(tmp_path / "kamailio", user="agent", password=password).start()
    http_port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "APPLIANCE_DATA_DIR": str(tmp_path),
        "APPLIANCE_HTTP__PORT": str(http_port),
        "APPLIANCE_SIP__ENABLED": "true",
        "APPLIANCE_SIP__MODE": "registered",
        "APPLIANCE_SIP__REGISTRAR": kamailio.uri,
        "APPLIANCE_SIP__USER": "agent",
        "APPLIANCE_SIP__PASSWORD": password,
        "APPLIANCE_SIP__PORT": str(free_port()),
        "APPLIANCE_SIP__RTP_PORT": "0",
        "APPLIANCE_SIP__LIBRARY_LOG_LEVEL": "3",
        "APPLIANCE_LOG__LEVEL": "DEBUG",
    }
    stderr_path = tmp_path / "serve.stderr"
    try:
        with stderr_path.open("w") as stderr:
            server = subprocess.Popen(
                [sys.executable, "-m", "appliance", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                health = _wait_health(
                    server, http_port, lambda h: h["sip"].get("registration", {}).get("registered")
                )
                sip = health["sip"]
                assert sip["running"] is True
                assert sip["mode"] == "registered"
                assert sip["registration"]["status_code"] == 200
                assert sip["active_calls"] == 0

                # A caller behind the PBX: Kamailio finds the registered contact.
                caller = Sipp(tmp_path, "caller", sipp_scenario(info_digits="9", hold_ms=1000))
                result = caller.start(f"{kamailio.host}:{kamailio.port}", service="agent").wait()
                assert result.passed, result.output
                health = _wait_health(server, http_port, lambda h: h["sip"]["ended"] == 1)
                assert health["sip"]["answered"] == 1
                assert health["sip"]["active_calls"] == 0
            finally:
                server.send_signal(signal.SIGTERM)
                code = server.wait(timeout=60)
    finally:
        kamailio.stop()
    assert code == 0, stderr_path.read_text()[-3000:]
    log = stderr_path.read_text()
    assert "sip endpoint stopped" in log
    assert password not in log
    assert LOOPBACK in log  # the listening address is logged, the credentials are not
