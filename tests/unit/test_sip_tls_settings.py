"""The TLS and SRTP parts of the [sip] settings and what the endpoint makes of them."""

from __future__ import annotations

import re
from pathlib import Path

import pjsua2 as pj
import pytest
from pydantic import ValidationError

from appliance.telephony.sip.account import calls_config
from appliance.telephony.sip.endpoint import (
    SipError,
    check_tls_files,
    signalling_transport,
    tls_config,
)
from appliance.telephony.sip.settings import SipSettings
from tests.support.certificates import self_signed_certificate

TRUNK = {"enabled": True, "mode": "trunk", "allowed_peers": ("127.0.0.1",)}


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path / "tls")


def tls(pem: tuple[Path, Path], **extra: object) -> SipSettings:
    cert, key = pem
    return SipSettings.model_validate(
        {**TRUNK, "transports": ("udp", "tls"), "tls_cert_file": cert, "tls_key_file": key, **extra}
    )


def test_tls_needs_a_certificate_and_key_that_exist(pem: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_cert_file and tls_key_file"):
        SipSettings.model_validate({**TRUNK, "transports": ("tls",)})
    missing = tmp_path / "nowhere" / "cert.pem"
    with pytest.raises(ValidationError, match=re.escape(f"tls_cert_file: {missing} does not")):
        tls(pem, tls_cert_file=missing)
    with pytest.raises(ValidationError, match=r"tls_ca_file: \S*missing-ca\.pem does not exist"):
        tls(pem, tls_ca_file=tmp_path / "missing-ca.pem")
    # SIP off: nothing is checked, the files may come later.
    off = SipSettings.model_validate({"transports": ("tls",), "tls_cert_file": missing})
    assert off.tls_cert_file == missing


def test_tls_switches_that_do_not_fit_together_are_refused(pem: tuple[Path, Path]) -> None:
    with pytest.raises(ValidationError, match="need tls_ca_file"):
        tls(pem, tls_verify_client=True)
    with pytest.raises(ValidationError, match="tls_port must differ"):
        tls(pem, transports=("tcp", "tls"), port=5070, tls_port=5070)
    with pytest.raises(ValidationError, match="needs 'tls' among transports"):
        SipSettings.model_validate({**TRUNK, "srtp": "mandatory"})
    # Keys in the clear on purpose, or DTLS keying: SRTP without TLS is fine.
    plain = SipSettings.model_validate(
        {**TRUNK, "srtp": "mandatory", "srtp_secure_signalling": "none"}
    )
    assert plain.srtp == "mandatory"
    dtls = SipSettings.model_validate({**TRUNK, "srtp": "mandatory", "srtp_keying": ("dtls",)})
    assert dtls.srtp_keying == ("dtls",)
    with pytest.raises(ValidationError, match="transports"):
        SipSettings.model_validate({**TRUNK, "transports": ("ws",)})


def test_the_tls_config_carries_files_checks_and_the_oldest_version(
    pem: tuple[Path, Path],
) -> None:
    cert, key = pem
    config = tls_config(tls(pem, tls_ca_file=cert, tls_verify_server=True, tls_min_version="1.3"))
    assert (config.certFile, config.privKeyFile, config.CaListFile) == (
        str(cert),
        str(key),
        str(cert),
    )
    assert config.verifyServer is True
    assert config.verifyClient is False
    assert config.proto == pj.PJ_SSL_SOCK_PROTO_TLS1_3
    older = tls_config(tls(pem))
    assert older.proto & pj.PJ_SSL_SOCK_PROTO_TLS1_2
    assert not older.proto & pj.PJ_SSL_SOCK_PROTO_TLS1_1


def test_a_key_that_does_not_match_the_certificate_is_named(
    pem: tuple[Path, Path], tmp_path: Path
) -> None:
    check_tls_files(tls(pem))
    _, other_key = self_signed_certificate(tmp_path / "other")
    settings = tls(pem, tls_key_file=other_key)
    with pytest.raises(SipError, match=re.escape(f"key {other_key}")):
        check_tls_files(settings)


def test_srtp_settings_reach_the_calls_account(pem: tuple[Path, Path]) -> None:
    cfg = calls_config(
        tls(pem, srtp="mandatory", srtp_keying=("sdes", "dtls")),
        contact_host="127.0.0.1",
        local_port=5060,
    )
    assert cfg.mediaConfig.srtpUse == pj.PJMEDIA_SRTP_MANDATORY
    assert cfg.mediaConfig.srtpSecureSignaling == 1
    assert list(cfg.mediaConfig.srtpOpt.keyings) == [
        pj.PJMEDIA_SRTP_KEYING_SDES,
        pj.PJMEDIA_SRTP_KEYING_DTLS_SRTP,
    ]
    off = calls_config(tls(pem), contact_host="127.0.0.1", local_port=5060)
    assert off.mediaConfig.srtpUse == pj.PJMEDIA_SRTP_DISABLED


def test_the_signalling_transport_is_read_from_the_top_via() -> None:
    request = (
        "INVITE sip:a@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 127.0.0.1:5071;branch=z9hG4bK1\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0\r\n\r\n"
    )
    assert signalling_transport(request) == "tls"
    assert signalling_transport("OPTIONS sip:a SIP/2.0\r\nv: SIP/2.0/tcp h\r\n\r\n") == "tcp"
    assert signalling_transport("INVITE sip:a SIP/2.0\r\n\r\n") == "unknown"
