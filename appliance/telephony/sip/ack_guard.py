"""Drop ACKs without a To tag before pjsip's UA layer sees them.

pjsip 2.15.1 (the pjsua2 wheel the appliance uses) aborts the whole process on
one malformed message: an ACK with no To tag, on a branch of its own, that
arrives while the INVITE transaction it names (same From tag, Call-ID and CSeq
number) is still alive, e.g. for up to 32 s after the appliance refused an
INVITE with 403/486/503. The UA layer takes it for a merged request (RFC 3261
8.2.2.2), tries to answer it with 482, and ``pjsip_endpt_create_response``
asserts that an ACK is never answered. Any peer can do this, allowed or not.
Upstream fixed it later (pjproject PR #4203); until the wheel carries the fix,
this module sits between pjsip's transaction layer and its UA layer and
swallows such ACKs: a valid ACK always carries the To tag of the response it
acknowledges, and an ACK matching a transaction never gets this far.

pjsua2 has no Python binding for pjsip modules, so the module is registered
through ctypes against the symbols the wheel's extension exports. The only
thing read from pjsip's structures is the raw message (``msg_info.msg_buf`` and
``len``), found next to the ``msg_info.info`` pointer that
``pjsip_rx_data_get_info`` returns, and used only when it lies inside the rx
data's own packet buffer and starts with the ACK's request line. Anything
unexpected lets the message through to pjsip unchanged.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import re
import struct
import threading

from appliance.errors import ErrorCode

log = logging.getLogger(__name__)

# Between the transaction layer (16) and the UA/proxy layer (32).
PRIORITY = 24
SCAN_CHUNK = 64  # small reads: never far past the msg_info field being looked for
SCAN_LIMIT = 1 << 20  # msg_info lies after the packet buffer; never scan past 1 MiB
MSG_BUF_BEFORE_INFO = 24  # msg_info: char *msg_buf; int len; pjsip_msg *msg; char *info
LEN_BEFORE_INFO = 16
TO_HEADER = re.compile(rb"^(?:to|t)[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)
TAG_PARAM = re.compile(rb";[ \t]*tag[ \t]*=[ \t]*[^;,\s]", re.IGNORECASE)  # a non-empty tag
FOLD = re.compile(rb"\r?\n[ \t]+")

RxRequest = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class _PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


class _PjsipModule(ctypes.Structure):
    _fields_ = [
        ("prev", ctypes.c_void_p),
        ("next", ctypes.c_void_p),
        ("name", _PjStr),
        ("id", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("load", ctypes.c_void_p),
        ("start", ctypes.c_void_p),
        ("stop", ctypes.c_void_p),
        ("unload", ctypes.c_void_p),
        ("on_rx_request", RxRequest),
        ("on_rx_response", ctypes.c_void_p),
        ("on_tx_request", ctypes.c_void_p),
        ("on_tx_response", ctypes.c_void_p),
        ("on_tsx_state", ctypes.c_void_p),
    ]


def ack_lacks_to_tag(message: bytes) -> bool:
    """Whether ``message`` is an ACK whose To header has no tag parameter."""
    if not message.startswith(b"ACK "):
        return False
    head = FOLD.sub(b" ", message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    found = TO_HEADER.search(head)
    if found is None:
        return False  # no To at all: pjsip drops that message itself
    value = found.group(1)
    params = value[value.rindex(b">") + 1 :] if b">" in value else value  # not the URI's own
    return TAG_PARAM.search(params) is None


class AckGuard:
    """The ctypes pjsip module; ``register`` after ``libStart``, ``unregister``
    before ``libDestroy`` (the structure must outlive its registration)."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("pjsua2._pjsua2")
        if spec is None or spec.origin is None:
            raise OSError("the pjsua2 extension module is not found")
        lib = ctypes.CDLL(spec.origin)  # the library already loaded by pjsua2
        self._get_endpt = lib.pjsua_get_pjsip_endpt
        self._get_endpt.restype = ctypes.c_void_p
        self._get_endpt.argtypes = []
        self._register = lib.pjsip_endpt_register_module
        self._register.restype = ctypes.c_int
        self._register.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._unregister = lib.pjsip_endpt_unregister_module
        self._unregister.restype = ctypes.c_int
        self._unregister.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._get_info = lib.pjsip_rx_data_get_info
        self._get_info.restype = ctypes.c_void_p
        self._get_info.argtypes = [ctypes.c_void_p]
        self._callback = RxRequest(self._on_rx_request)
        self._name = ctypes.create_string_buffer(b"mod-appliance-ack-guard")
        self._module = _PjsipModule()
        self._module.name = _PjStr(ctypes.cast(self._name, ctypes.c_char_p), 23)
        self._module.id = -1
        self._module.priority = PRIORITY
        self._module.on_rx_request = self._callback
        self._endpt: int | None = None
        self._info_offset: int | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def register(self) -> None:
        endpt = self._get_endpt()
        if not endpt:
            raise OSError("pjsip endpoint not created yet")
        status = self._register(endpt, ctypes.byref(self._module))
        if status != 0:
            raise OSError(f"pjsip_endpt_register_module failed: status {status}")
        self._endpt = endpt

    def unregister(self) -> None:
        endpt, self._endpt = self._endpt, None
        if endpt is not None:
            self._unregister(endpt, ctypes.byref(self._module))

    # -- pjsip's thread -------------------------------------------------------

    def _on_rx_request(self, rdata: int | None) -> int:
        try:
            message = self._message(rdata) if rdata else None
            if message is None or not ack_lacks_to_tag(message):
                return 0
        except Exception:  # nothing may escape into pjsip: let the message through
            log.exception("sip ack guard failed", extra={"code": ErrorCode.SIP_CALL_FAILED.value})
            return 0
        with self._lock:
            self.dropped += 1
            first = self.dropped == 1
        (log.warning if first else log.debug)(
            "sip ACK without To tag dropped (it would crash pjsip 2.15.1)",
            extra={"code": ErrorCode.SIP_MESSAGE_DROPPED.value, "dropped": self.dropped},
        )
        return 1  # handled: no later module sees it

    def _message(self, rdata: int) -> bytes | None:
        """The raw request, or None when it is no ACK or the layout does not check out."""
        info = self._get_info(rdata)
        if not info or not ctypes.string_at(info, 16).startswith(b"Request msg ACK/"):
            return None
        offset = self._info_offset
        if offset is None or self._pointer_at(rdata, offset) != info:
            offset = self._find(rdata, info)
            if offset is None:
                return None
            self._info_offset = offset
        buffer = self._pointer_at(rdata, offset - MSG_BUF_BEFORE_INFO)
        length = ctypes.c_int.from_address(rdata + offset - LEN_BEFORE_INFO).value
        # pjsip parses in place, in the rx data's own packet buffer (before msg_info):
        # anything else means the layout guess is wrong, and nothing is read.
        if not rdata < buffer < buffer + length <= rdata + offset - MSG_BUF_BEFORE_INFO:
            return None
        message = ctypes.string_at(buffer, length)
        return message if message.startswith(b"ACK ") else None

    @staticmethod
    def _pointer_at(address: int, offset: int) -> int:
        return ctypes.c_void_p.from_address(address + offset).value or 0

    @staticmethod
    def _find(rdata: int, info: int) -> int | None:
        """Where in the rx data the ``msg_info.info`` pointer sits (8-byte aligned)."""
        needle = struct.pack("<Q", info)
        for start in range(0, SCAN_LIMIT, SCAN_CHUNK):
            chunk = ctypes.string_at(rdata + start, SCAN_CHUNK)
            at = chunk.find(needle)
            while at != -1:
                if at % 8 == 0 and start + at >= MSG_BUF_BEFORE_INFO:
                    return start + at
                at = chunk.find(needle, at + 1)
        return None
