"""The [sip] settings and the small helpers of the SIP endpoint."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pjsua2 as pj
import pytest

from appliance.config import load_settings
from appliance.errors import ConfigError
from appliance.telephony.sip.audio_port import vector_bytes
from appliance.telephony.sip.endpoint import available_memory_mb, peer_ip, resolve_networks
from appliance.telephony.sip.settings import PJSUA_MAX_CALLS, SipSettings


def test_sip_is_off_by_default_and_needs_a_complete_mode_when_on(tmp_path: Path) -> None:
    assert load_settings(environ={"APPLIANCE_DATA_DIR": str(tmp_path)}).sip.enabled is False
    with pytest.raises(ConfigError, match="allowed_peers"):
        load_settings(
            environ={"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_SIP__ENABLED": "true"}
        )
    with pytest.raises(ConfigError, match="registrar"):
        load_settings(
            environ={
                "APPLIANCE_DATA_DIR": str(tmp_path),
                "APPLIANCE_SIP__ENABLED": "true",
                "APPLIANCE_SIP__MODE": "registered",
            }
        )
    with pytest.raises(ConfigError, match="not an address"):
        load_settings(
            environ={
                "APPLIANCE_DATA_DIR": str(tmp_path),
                "APPLIANCE_SIP__ALLOWED_PEERS": '["pbx.example.org"]',
            }
        )
    with pytest.raises(ConfigError, match="each transport once"):
        load_settings(
            environ={
                "APPLIANCE_DATA_DIR": str(tmp_path),
                "APPLIANCE_SIP__TRANSPORTS": '["udp", "udp"]',
            }
        )
    with pytest.raises(ConfigError, match="max_calls"):
        load_settings(
            environ={
                "APPLIANCE_DATA_DIR": str(tmp_path),
                "APPLIANCE_SIP__MAX_CALLS": str(PJSUA_MAX_CALLS + 1),
            }
        )


def test_the_password_never_shows_in_the_settings_repr(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "APPLIANCE_DATA_DIR": str(tmp_path),
            "APPLIANCE_SIP__ENABLED": "true",
            "APPLIANCE_SIP__MODE": "registered",
            "APPLIANCE_SIP__REGISTRAR": "sip:[fd00::5]:5070;transport=udp",
            "APPLIANCE_SIP__PASSWORD": "hunter2-secret",
        }
    )
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())
    assert settings.sip.registrar_host() == "fd00::5"
    assert settings.sip.sip_domain() == "fd00::5"
    networks = resolve_networks(settings.sip)
    assert ipaddress.ip_address("fd00::5") in networks[0]


def test_peer_addresses_are_matched_by_ip_only() -> None:
    sip = SipSettings(allowed_peers=("10.1.0.0/16", "127.0.0.1"))
    assert peer_ip("10.1.2.3:5060") == ipaddress.ip_address("10.1.2.3")
    assert peer_ip("[::1]:5060") == ipaddress.ip_address("::1")
    assert peer_ip("not-an-ip:5060") is None
    allowed = sip.networks()
    assert any(ipaddress.ip_address("10.1.200.7") in n for n in allowed)
    assert not any(ipaddress.ip_address("10.2.0.1") in n for n in allowed)


def test_frames_are_read_out_of_pjsua2_byte_vectors_exactly() -> None:
    pcm = (np.arange(320, dtype=np.int16) * 97 - 15_000).astype(np.int16)
    vector = pj.ByteVector(pcm.tobytes())
    assert vector_bytes(vector) == pcm.tobytes()
    assert np.array_equal(np.frombuffer(vector_bytes(vector), dtype=np.int16), pcm)
    assert vector_bytes(pj.ByteVector(b"")) == b""


def test_available_memory_is_read_from_the_kernel(tmp_path: Path) -> None:
    free = available_memory_mb()
    assert free is not None
    assert free > 0
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 4096000 kB\nMemAvailable: 2048000 kB\n", encoding="ascii")
    assert available_memory_mb(meminfo) == 2000
    assert available_memory_mb(tmp_path / "missing") is None
