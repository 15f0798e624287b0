"""Errors with stable codes.

Every failure the appliance reports carries a code that never changes between
releases, so operators can alert on it and the audit log can count it. The
message is for humans; the code is for machines.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    CONFIG_INVALID = "CONFIG_INVALID"
    MODEL_MISSING = "MODEL_MISSING"
    MODEL_CORRUPT = "MODEL_CORRUPT"
    AUDIO_NOT_FOUND = "AUDIO_NOT_FOUND"
    AUDIO_NOT_WAV = "AUDIO_NOT_WAV"
    AUDIO_UNSUPPORTED_FORMAT = "AUDIO_UNSUPPORTED_FORMAT"
    AUDIO_EMPTY = "AUDIO_EMPTY"
    STT_FAILED = "STT_FAILED"
    TTS_FAILED = "TTS_FAILED"
    LLM_UNAVAILABLE = "LLM_UNAVAILABLE"
    LLM_TIMEOUT = "LLM_TIMEOUT"
    LLM_BAD_RESPONSE = "LLM_BAD_RESPONSE"
    LLM_SERVER_FAILED = "LLM_SERVER_FAILED"
    CALL_FAILED = "CALL_FAILED"
    KB_FILE_NOT_FOUND = "KB_FILE_NOT_FOUND"
    KB_FILE_EMPTY = "KB_FILE_EMPTY"
    KB_FILE_UNSUPPORTED = "KB_FILE_UNSUPPORTED"
    KB_FILE_TOO_LARGE = "KB_FILE_TOO_LARGE"
    KB_FILE_UNREADABLE = "KB_FILE_UNREADABLE"
    KB_DOC_NOT_FOUND = "KB_DOC_NOT_FOUND"
    KB_COLLECTION_NOT_FOUND = "KB_COLLECTION_NOT_FOUND"
    KB_STORE_FAILED = "KB_STORE_FAILED"
    KB_UNAVAILABLE = "KB_UNAVAILABLE"
    KB_LANGUAGE_UNEXPECTED = "KB_LANGUAGE_UNEXPECTED"
    TOOL_UNKNOWN = "TOOL_UNKNOWN"
    TOOL_BAD_ARGUMENTS = "TOOL_BAD_ARGUMENTS"
    TOOL_NOT_ALLOWED = "TOOL_NOT_ALLOWED"
    TOOL_TIMEOUT = "TOOL_TIMEOUT"
    TOOL_UNAVAILABLE = "TOOL_UNAVAILABLE"
    TOOL_FAILED = "TOOL_FAILED"
    TOOL_REJECTED = "TOOL_REJECTED"
    TOOL_BAD_RESPONSE = "TOOL_BAD_RESPONSE"
    TOOL_SKIPPED = "TOOL_SKIPPED"
    IDENTITY_REQUIRED = "IDENTITY_REQUIRED"
    IDENTITY_NOT_VERIFIED = "IDENTITY_NOT_VERIFIED"
    HANDOFF_WEBHOOK_FAILED = "HANDOFF_WEBHOOK_FAILED"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    EMBEDDING_UNAVAILABLE = "EMBEDDING_UNAVAILABLE"
    EMBEDDING_TIMEOUT = "EMBEDDING_TIMEOUT"
    EMBEDDING_BAD_RESPONSE = "EMBEDDING_BAD_RESPONSE"
    SIP_START_FAILED = "SIP_START_FAILED"
    SIP_CREDENTIALS_UNREADABLE = "SIP_CREDENTIALS_UNREADABLE"
    SIP_REGISTRATION_FAILED = "SIP_REGISTRATION_FAILED"
    SIP_PEER_FORBIDDEN = "SIP_PEER_FORBIDDEN"
    SIP_CAPACITY_EXCEEDED = "SIP_CAPACITY_EXCEEDED"
    SIP_CALL_FAILED = "SIP_CALL_FAILED"
    SIP_RTP_TIMEOUT = "SIP_RTP_TIMEOUT"
    SIP_TRANSFER_FAILED = "SIP_TRANSFER_FAILED"
    SIP_GPU_UNAVAILABLE = "SIP_GPU_UNAVAILABLE"
    SIP_MESSAGE_DROPPED = "SIP_MESSAGE_DROPPED"
    WEBRTC_BAD_REQUEST = "WEBRTC_BAD_REQUEST"
    WEBRTC_BAD_OFFER = "WEBRTC_BAD_OFFER"
    WEBRTC_NO_AUDIO = "WEBRTC_NO_AUDIO"
    WEBRTC_UNSUPPORTED_MEDIA = "WEBRTC_UNSUPPORTED_MEDIA"
    WEBRTC_OFFER_TOO_LARGE = "WEBRTC_OFFER_TOO_LARGE"
    WEBRTC_BUSY = "WEBRTC_BUSY"
    WEBRTC_DISABLED = "WEBRTC_DISABLED"


class ApplianceError(Exception):
    """Base of every error the appliance raises on purpose."""

    code: ErrorCode = ErrorCode.CALL_FAILED

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigError(ApplianceError):
    code = ErrorCode.CONFIG_INVALID


class ModelError(ApplianceError):
    code = ErrorCode.MODEL_MISSING


class AudioInputError(ApplianceError):
    code = ErrorCode.AUDIO_NOT_WAV


class EngineError(ApplianceError):
    """A speech or language engine failed while serving a call."""


class LLMError(EngineError):
    code = ErrorCode.LLM_UNAVAILABLE
