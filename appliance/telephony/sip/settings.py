"""SIP settings: one frozen section of the appliance configuration (``[sip]``).

Transports UDP and TCP share ``port``; TLS listens on ``tls_port`` with the
certificate and key from ``tls_cert_file``/``tls_key_file``. Media is plain RTP,
or SRTP (``srtp``) whose SDES keys by default travel only over TLS.

Two modes:

* ``registered``: the appliance is an ordinary extension. It REGISTERs to the
  PBX (``registrar``) with ``auth_user``/``password``/``realm`` and re-registers
  before ``register_expires_s`` runs out. INVITEs are accepted from the
  registrar's address and from ``allowed_peers``.
* ``trunk``: a peer of the PBX, no registration. INVITEs are accepted only
  from ``allowed_peers``; anything else gets 403 Forbidden and is logged.

SIP is off unless ``enabled`` is true; ``appliance serve`` starts it then.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Concurrent calls compiled into the pjsua2-python 2.15.1.post1 wheel (PJSUA_MAX_CALLS).
# Measured by placing calls (scripts/sip_max_calls.py): with uaConfig.maxCalls set to
# 8, 16, 31 or 64, pjsua still took 4 calls and answered every further INVITE itself
# with "486 Busy Here" ("too many calls"). To carry more, run further appliance
# processes (own SIP and RTP ports) behind the PBX or Kamailio's dispatcher, or build
# pjproject and its SWIG module with a config_site.h that raises PJSUA_MAX_CALLS.
PJSUA_MAX_CALLS = 4

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SipSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=False, description="answer SIP calls under `appliance serve`")
    mode: Literal["registered", "trunk"] = "trunk"
    bind_host: str = Field(default="127.0.0.1", description="address the SIP/RTP sockets use")
    port: int = Field(default=5060, ge=0, le=65535, description="SIP port; 0 picks one")
    transports: tuple[Literal["udp", "tcp", "tls"], ...] = Field(
        default=("udp",),
        min_length=1,
        description="SIP transports: udp and tcp listen on `port`, tls on `tls_port`",
    )
    tls_port: int = Field(default=5061, ge=0, le=65535, description="SIP over TLS; 0 picks one")
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate (chain) the TLS transport presents"
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of the certificate"
    )
    tls_ca_file: Path | None = Field(
        default=None, description="PEM CA certificates peers' certificates are checked against"
    )
    tls_verify_client: bool = Field(
        default=False,
        description="ask TLS peers that connect for a certificate and refuse the connection "
        "unless tls_ca_file vouches for it",
    )
    tls_verify_server: bool = Field(
        default=False,
        description="refuse a TLS server (registrar, PBX) whose certificate tls_ca_file does "
        "not vouch for",
    )
    tls_min_version: Literal["1.2", "1.3"] = "1.2"
    srtp: Literal["disabled", "optional", "mandatory"] = Field(
        default="disabled",
        description="SRTP for call media; 'mandatory' answers plain-RTP offers with 488",
    )
    srtp_secure_signalling: Literal["none", "tls", "sips"] = Field(
        default="tls",
        description="where SDES keys may travel: 'tls' only over a TLS hop, 'sips' only on "
        "end-to-end secure (sips:) dialogs, 'none' anywhere (keys readable on the wire)",
    )
    srtp_keying: tuple[Literal["sdes", "dtls"], ...] = Field(
        default=("sdes",), min_length=1, description="SRTP key exchange, in order of preference"
    )
    public_address: str | None = Field(
        default=None, description="address put in Contact/SDP when it differs from bind_host"
    )
    rtp_port: int = Field(default=4000, ge=0, le=65535, description="first RTP port; 0 picks")
    rtp_port_range: int = Field(default=1000, ge=0, le=60000)
    user: str = Field(default="appliance", pattern=r"^[A-Za-z0-9_.+-]{1,64}$")
    registrar: str | None = Field(default=None, description="e.g. sip:pbx.example.org:5060")
    domain: str | None = Field(default=None, description="SIP domain; default: registrar host")
    realm: str = "*"
    auth_user: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = Field(default=None, description="file holding the password")
    register_expires_s: int = Field(default=300, ge=30, le=86_400)
    allowed_peers: tuple[str, ...] = Field(
        default=(), description="addresses or networks (CIDR) INVITEs may come from"
    )
    max_calls: int = Field(
        default=2,
        ge=1,
        le=PJSUA_MAX_CALLS,
        description="concurrent calls; more INVITEs get 486 Busy Here. Below the pjsua "
        "ceiling, spare call slots let refused INVITEs get a 403/486 of their own",
    )
    min_free_memory_mb: int = Field(
        default=0,
        ge=0,
        description="refuse new calls (503, Retry-After) below this much available memory",
    )
    max_load_per_cpu: float = Field(
        default=0.0,
        ge=0.0,
        le=64.0,
        description="refuse new calls (503, Retry-After) above this 1-minute load per CPU; 0 never",
    )
    min_free_gpu_memory_mb: int = Field(
        default=0,
        ge=0,
        description="refuse new calls (503, Retry-After) while the GPU with the least free "
        "memory has less than this (MiB, from nvidia-smi); 0 never. While the GPU state is "
        "unknown (no nvidia-smi, or it fails) new calls are refused too",
    )
    max_gpu_utilization_pct: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description="refuse new calls (503, Retry-After) while a GPU is busier than this "
        "(percent, from nvidia-smi); 0 never. Unknown GPU state refuses as above",
    )
    retry_after_s: int = Field(default=30, ge=1, le=3600)
    codecs: tuple[str, ...] = Field(
        default=("G722/16000", "PCMA/8000", "PCMU/8000"),
        description="codec preference order; other codecs are disabled",
    )
    rtp_timeout_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="hang up a call whose RTP stopped arriving this long ago; 0 never",
    )
    transfer_target: str | None = Field(
        default=None,
        description="SIP URI of the human agent or queue extension calls are handed to",
    )
    transfer_on_handoff: bool = Field(
        default=True,
        description="when the voice loop requests a handoff and transfer_target is set, "
        "transfer the call (case reference: the call id) once the agent has finished speaking",
    )
    transfer_mode: Literal["blind", "attended"] = Field(
        default="blind",
        description="blind: REFER the caller to transfer_target; attended: call the target "
        "first and, once a person answers, hand the caller over (REFER with Replaces)",
    )
    transfer_answer_timeout_s: float = Field(
        default=25.0,
        ge=1.0,
        le=300.0,
        description="attended transfer: how long the target may ring before the caller "
        "stays with the agent",
    )
    case_header: str = Field(
        default="X-Case-Reference",
        pattern=r"^X-[A-Za-z0-9-]{1,60}$",
        description="header carrying the case reference on a transfer (REFER and Refer-To)",
    )
    library_log_level: int = Field(default=1, ge=0, le=6, description="pjsip's own log level")

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, peers: tuple[str, ...]) -> tuple[str, ...]:
        for peer in peers:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError as exc:
                raise ValueError(f"allowed_peers: {peer!r} is not an address/network") from exc
        return peers

    @field_validator("transports")
    @classmethod
    def _distinct(cls, transports: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(transports)) != len(transports):
            raise ValueError("each transport once")
        return transports

    @field_validator("registrar", "transfer_target")
    @classmethod
    def _sip_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sip:", "sips:")):
            raise ValueError("must be a sip: URI, e.g. sip:pbx.example.org:5060")
        if value is not None and "?" in value:
            raise ValueError("must not carry URI headers")
        return value

    @model_validator(mode="after")
    def _mode_complete(self) -> SipSettings:
        if not self.enabled:
            return self
        if self.mode == "registered" and self.registrar is None:
            raise ValueError("mode 'registered' needs a registrar")
        if self.mode == "trunk" and not self.allowed_peers:
            raise ValueError("mode 'trunk' needs allowed_peers (the PBX addresses)")
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        self._check_tls()
        return self

    def _check_tls(self) -> None:
        """TLS files exist and the TLS/SRTP switches fit together (enabled SIP only)."""
        tls = "tls" in self.transports
        if tls:
            if self.tls_cert_file is None or self.tls_key_file is None:
                raise ValueError("transport 'tls' needs tls_cert_file and tls_key_file")
            if "tcp" in self.transports and self.tls_port == self.port and self.port != 0:
                raise ValueError("tls_port must differ from port when tcp is on too")
        if (self.tls_verify_client or self.tls_verify_server) and self.tls_ca_file is None:
            raise ValueError("tls_verify_client/tls_verify_server need tls_ca_file")
        files = {
            "tls_cert_file": self.tls_cert_file,
            "tls_key_file": self.tls_key_file,
            "tls_ca_file": self.tls_ca_file,
        }
        for name, path in files.items():
            if tls and path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} does not exist or is not a file")
        sdes_only = self.srtp_keying == ("sdes",)
        if (
            self.srtp == "mandatory"
            and sdes_only
            and self.srtp_secure_signalling != "none"
            and not tls
        ):
            raise ValueError(
                "srtp 'mandatory' with SDES keys and srtp_secure_signalling "
                f"{self.srtp_secure_signalling!r} needs 'tls' among transports"
            )

    def networks(self) -> list[IpNetwork]:
        return [ipaddress.ip_network(peer, strict=False) for peer in self.allowed_peers]

    def registrar_host(self) -> str | None:
        """The host part of the registrar URI (no user, port or parameters)."""
        if self.registrar is None:
            return None
        rest = self.registrar.split(":", 1)[1].split(";", 1)[0]
        rest = rest.rsplit("@", 1)[-1]
        if rest.startswith("["):
            return rest[1 : rest.index("]")]
        return rest.split(":", 1)[0]

    def sip_domain(self) -> str:
        return self.domain or self.registrar_host() or self.public_address or self.bind_host
