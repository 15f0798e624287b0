"""The appliance's SIP account: registration (registered mode) and incoming INVITEs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

import pjsua2 as pj

from appliance.errors import ConfigError, ErrorCode
from appliance.telephony.sip.guard import pj_callback
from appliance.telephony.sip.settings import SipSettings


@dataclass(frozen=True, slots=True)
class RegistrationState:
    """What /health shows about registration; never the credentials."""

    required: bool
    registered: bool = False
    status_code: int = 0
    reason: str = "not started"
    expires_s: int = 0
    updated_unix: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "required": self.required,
            "registered": self.registered,
            "status_code": self.status_code,
            "reason": self.reason,
            "expires_s": self.expires_s,
            "updated_unix": self.updated_unix,
        }


class IncomingHandler(Protocol):
    def incoming_call(self, account: ApplianceAccount, prm: pj.OnIncomingCallParam) -> None: ...

    def registration_changed(self, state: RegistrationState) -> None: ...


def read_password(settings: SipSettings) -> str:
    """The registration password, from the settings or the secret file."""
    if settings.password is not None:
        return settings.password.get_secret_value()
    if settings.password_file is not None:
        try:
            return settings.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"sip.password_file {settings.password_file} cannot be read: {exc.strerror}",
                code=ErrorCode.SIP_CREDENTIALS_UNREADABLE,
            ) from exc
    return ""


CALLS_PRIORITY = 10  # pjsua matches incoming INVITEs to the highest-priority account first


SRTP_USE = {
    "disabled": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}
SRTP_SIGNALLING = {"none": 0, "tls": 1, "sips": 2}  # pjsua's srtp_secure_signaling
SRTP_KEYING = {"sdes": pj.PJMEDIA_SRTP_KEYING_SDES, "dtls": pj.PJMEDIA_SRTP_KEYING_DTLS_SRTP}


def _media(cfg: pj.AccountConfig, settings: SipSettings) -> pj.AccountConfig:
    srtp = cfg.mediaConfig
    srtp.srtpUse = SRTP_USE[settings.srtp]
    srtp.srtpSecureSignaling = SRTP_SIGNALLING[settings.srtp_secure_signalling]
    keyings = pj.IntVector()
    for keying in settings.srtp_keying:
        keyings.append(SRTP_KEYING[keying])
    srtp.srtpOpt.keyings = keyings
    media = cfg.mediaConfig.transportConfig
    media.port = settings.rtp_port
    media.portRange = settings.rtp_port_range
    media.boundAddress = settings.bind_host
    if settings.public_address:
        media.publicAddress = settings.public_address
        cfg.natConfig.contactRewriteUse = 0
    return cfg


def calls_config(settings: SipSettings, *, contact_host: str, local_port: int) -> pj.AccountConfig:
    """The account every call runs on. It holds no credentials, ever.

    A dialog answers digest challenges with its account's credentials. If calls
    ran on the registering account, a caller could answer the appliance's BYE
    with a 407 and get a digest of the PBX password to crack offline (the
    "digest leak"). So calls get their own account, first in line for INVITEs.
    """
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{settings.user}@{contact_host}:{local_port}"
    cfg.priority = CALLS_PRIORITY
    return _media(cfg, settings)


def registration_config(settings: SipSettings) -> pj.AccountConfig:
    """The account that REGISTERs the extension; the only one with the password."""
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{settings.user}@{settings.sip_domain()}"
    cfg.priority = 0
    cfg.regConfig.registrarUri = settings.registrar
    cfg.regConfig.registerOnAdd = True
    cfg.regConfig.timeoutSec = settings.register_expires_s
    cfg.regConfig.retryIntervalSec = 30
    cfg.regConfig.firstRetryIntervalSec = 5
    password = read_password(settings)
    if password:
        cred = pj.AuthCredInfo(
            "digest", settings.realm, settings.auth_user or settings.user, 0, password
        )
        cfg.sipConfig.authCreds.append(cred)
    return _media(cfg, settings)


class ApplianceAccount(pj.Account):  # type: ignore[misc]  # pjsua2 has no stubs
    """Runs its callbacks on the SIP thread and hands them to the endpoint."""

    def __init__(self, handler: IncomingHandler, *, registration_required: bool) -> None:
        super().__init__()
        self._handler = handler
        self._lock = threading.Lock()
        self._state = RegistrationState(required=registration_required)

    @property
    def registration(self) -> RegistrationState:
        with self._lock:
            return self._state

    @pj_callback
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802  # pjsua2 API name
        self._handler.incoming_call(self, prm)

    @pj_callback
    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802  # pjsua2 API name
        info = self.getInfo()
        state = RegistrationState(
            required=self._state.required,
            registered=bool(info.regIsActive) and 200 <= int(info.regStatus) < 300,
            status_code=int(info.regStatus),
            reason=str(info.regStatusText),
            expires_s=int(info.regExpiresSec) if info.regIsActive else 0,
            updated_unix=time.time(),
        )
        with self._lock:
            self._state = state
        self._handler.registration_changed(state)
