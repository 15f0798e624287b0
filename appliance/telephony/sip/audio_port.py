"""The bridge between one call's conference-bridge slot and its voice loop.

pjsua2 calls ``onFrameReceived`` and ``onFrameRequested`` every 20 ms on a pjmedia
clock thread. Both stay trivial: the received frame is copied out of pjsua2's
byte vector and handed to the voice loop with ``push_audio_threadsafe`` (never
waiting on the event loop); the frame to send is pulled from the playout buffer,
which only takes a short lock. Before the voice loop is attached, frames received
are dropped and silence is sent.
"""

from __future__ import annotations

import ctypes
import time
from typing import Protocol

import numpy as np
import pjsua2 as pj

from appliance.audio.frames import FRAME_MS, samples_per_frame
from appliance.telephony.sip.guard import pj_callback
from appliance.telephony.transport import MediaPorts

BYTES_PER_SAMPLE = 2
LATE_S = 2 * FRAME_MS / 1000  # a request this long after the previous one is a late frame
_POINTER_PAIR = ctypes.c_void_p * 2


def vector_bytes(vector: pj.ByteVector) -> bytes:
    """The bytes of a pjsua2 ``ByteVector`` (a SWIG ``std::vector<unsigned char>``).

    Iterating the SWIG proxy costs about 0.6 ms per 640-byte frame, all of it
    holding the GIL on the media thread. libstdc++ lays a vector out as
    ``{begin, end, capacity}`` pointers, so the data is read in one copy (~3 µs);
    if the layout ever disagrees with the vector's own size, the slow path is used.
    """
    size = len(vector)
    if size == 0:
        return b""
    begin, end = _POINTER_PAIR.from_address(int(vector.this))
    if begin is not None and end is not None and end - begin == size:
        return ctypes.string_at(begin, size)
    return bytes(vector)  # pragma: no cover - another C++ runtime


def audio_format(sample_rate: int) -> pj.MediaFormatAudio:
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.init(pj.PJMEDIA_FORMAT_PCM, sample_rate, 1, FRAME_MS * 1000, 16)
    return fmt


class PortsHolder(Protocol):
    """Where the voice loop's ports appear once it runs (the call's transport)."""

    ports: MediaPorts | None


class CallAudioPort(pj.AudioMediaPort):  # type: ignore[misc]  # pjsua2 has no stubs
    """One call's audio: inbound frames to the voice loop, outbound from its playout."""

    def __init__(self, sample_rate: int, holder: PortsHolder) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.frame_bytes = samples_per_frame(sample_rate) * BYTES_PER_SAMPLE
        self._silence = bytes(self.frame_bytes)
        self._holder: PortsHolder | None = holder
        self.frames_in = 0
        self.frames_out = 0
        # Media clock health: the largest gap between two frame requests, and how
        # many came more than a frame late (GIL contention shows up here first).
        self.max_gap_s = 0.0
        self.late_frames = 0
        self._last_request = 0.0

    def detach(self) -> None:
        """Stop exchanging audio with the voice loop (the call is over); any thread."""
        self._holder = None

    def _ports(self) -> MediaPorts | None:
        holder = self._holder
        return None if holder is None else holder.ports

    # -- pjmedia clock thread ---------------------------------------------

    @pj_callback
    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802  # pjsua2 API name
        ports = self._ports()
        if ports is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        data = vector_bytes(frame.buf)
        if len(data) != self.frame_bytes:
            return
        self.frames_in += 1
        ports.push_audio_threadsafe(np.frombuffer(data, dtype=np.int16))

    @pj_callback
    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802  # pjsua2 API name
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        ports = self._ports()
        if ports is None:
            frame.buf = pj.ByteVector(self._silence)
            return
        now = time.perf_counter()
        if self.frames_out:
            gap = now - self._last_request
            self.max_gap_s = max(self.max_gap_s, gap)
            self.late_frames += gap > LATE_S
        self._last_request = now
        pcm, _ = ports.playout.pull()
        frame.buf = pj.ByteVector(pcm.astype(np.int16, copy=False).tobytes())
        self.frames_out += 1
