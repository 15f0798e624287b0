"""A simulated caller: plays caller audio into a call and records both sides.

Used by ``appliance call FILE`` and the tests and benchmarks. In *realtime*
mode a pacing thread delivers a 20 ms frame every 20 ms and pulls the agent's
frame on the same tick, exactly as a pjsua2 media thread does, and records the
tick times for jitter figures. Turns can start after the agent falls silent or
while it speaks (barge-in). In *fast* mode the caller waits politely while the
agent thinks and speaks and frames are fed as fast as the loop takes them.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from appliance.audio.frames import FRAME_MS, samples_per_frame, split_frames
from appliance.speech.stt import Int16Audio
from appliance.telephony.transport import MediaPorts


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """Caller audio (at the transport rate) and when to start it.

    With neither trigger the turn starts right after the previous one.
    """

    audio: Int16Audio
    after_agent_idle_ms: int | None = None
    after_agent_audio_ms: int | None = None
    dtmf: str = ""  # keys pressed as the turn starts (RFC 4733 on a real line)


@dataclass(slots=True)
class Recording:
    caller: list[Int16Audio] = field(default_factory=list)
    agent: list[Int16Audio] = field(default_factory=list)
    tick_times: list[float] = field(default_factory=list)
    turn_starts_ms: list[int] = field(default_factory=list)

    def caller_audio(self) -> Int16Audio:
        return np.concatenate(self.caller) if self.caller else np.zeros(0, dtype=np.int16)

    def agent_audio(self) -> Int16Audio:
        return np.concatenate(self.agent) if self.agent else np.zeros(0, dtype=np.int16)

    def tick_intervals_ms(self) -> list[float]:
        times = self.tick_times
        return [(b - a) * 1000.0 for a, b in itertools.pairwise(times)]


class SimulatedCaller:
    name = "simulated"

    def __init__(
        self,
        turns: list[CallerTurn],
        *,
        sample_rate: int,
        realtime: bool,
        tail_ms: int = 1500,
        max_duration_s: float = 900.0,
        max_wait_s: float = 60.0,
        dialled: str = "",
    ) -> None:
        self.turns = turns
        self.dialled = dialled
        self.sample_rate = sample_rate
        self.realtime = realtime
        self.tail_ms = tail_ms
        self.max_duration_s = max_duration_s
        self.max_wait_s = max_wait_s
        self.remote = "simulated-caller"
        self.recording = Recording()
        self._frame = samples_per_frame(sample_rate)
        self._silence = np.zeros(self._frame, dtype=np.int16)
        self._hangup = threading.Event()
        self.gave_up = False

    async def hangup(self) -> None:
        self._hangup.set()

    async def run(self, ports: MediaPorts) -> str:
        try:
            if self.realtime:
                return await asyncio.to_thread(self._pace, ports)
            return await self._feed_fast(ports)
        finally:
            ports.push_control_threadsafe("hangup", "caller")

    # -- realtime: a media thread ----------------------------------------

    def _agent_idle(self, ports: MediaPorts) -> bool:
        return ports.agent_idle.is_set() and not ports.playout.has_audio()

    def _pace(self, ports: MediaPorts) -> str:
        rec = self.recording
        period = FRAME_MS / 1000.0
        max_ticks = int(self.max_duration_s * 1000 / FRAME_MS)
        turn_index, position, waiting_ticks = 0, -1, 0
        idle_ticks = agent_ticks = 0
        start = time.perf_counter()
        for tick in range(max_ticks):
            if self._hangup.is_set():
                return "agent_hangup"
            delay = start + tick * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            rec.tick_times.append(time.perf_counter())
            frame = self._silence
            if turn_index < len(self.turns):
                turn = self.turns[turn_index]
                if position < 0 and self._triggered(turn, idle_ticks, agent_ticks, waiting_ticks):
                    position = 0
                    rec.turn_starts_ms.append(tick * FRAME_MS)
                    for key in turn.dtmf:
                        ports.push_control_threadsafe("dtmf", key)
                if position >= 0:
                    frame = turn.audio[position : position + self._frame]
                    if len(frame) < self._frame:
                        frame = np.concatenate([frame, self._silence[: self._frame - len(frame)]])
                    position += self._frame
                    if position >= len(turn.audio):
                        turn_index, position, waiting_ticks, agent_ticks = turn_index + 1, -1, 0, 0
                else:
                    waiting_ticks += 1
            elif idle_ticks * FRAME_MS >= self.tail_ms:
                return "caller_hangup"
            ports.push_audio_threadsafe(frame)
            rec.caller.append(frame)
            out, has_audio = ports.playout.pull()
            rec.agent.append(out.copy() if has_audio else self._silence)
            agent_ticks += int(has_audio)
            caller_quiet = position < 0
            idle_ticks = idle_ticks + 1 if caller_quiet and self._agent_idle(ports) else 0
        return "max_duration"

    @staticmethod
    def _triggered(turn: CallerTurn, idle_ticks: int, agent_ticks: int, waiting: int) -> bool:
        if turn.after_agent_audio_ms is not None:
            return agent_ticks * FRAME_MS >= turn.after_agent_audio_ms
        if turn.after_agent_idle_ms is not None:
            return waiting > 0 and idle_ticks * FRAME_MS >= turn.after_agent_idle_ms
        return True

    # -- fast: the caller waits while the agent is busy ------------------

    async def _feed_fast(self, ports: MediaPorts) -> str:
        rec = self.recording
        tail = np.zeros(self.sample_rate * self.tail_ms // 1000, dtype=np.int16)
        media_ms = 0
        for turn in [*self.turns, CallerTurn(tail)]:
            await self._wait_idle_fast(ports)
            rec.turn_starts_ms.append(media_ms)
            for key in turn.dtmf:
                ports.push_control("dtmf", key)
            for frame in split_frames(turn.audio, self.sample_rate):
                await self._wait_idle_fast(ports)
                if self._hangup.is_set():
                    return "caller_gave_up" if self.gave_up else "agent_hangup"
                ports.push_audio(frame)
                await ports.drained()
                rec.caller.append(frame)
                rec.agent.append(self._silence)
                media_ms += FRAME_MS
        await self._wait_idle_fast(ports)
        if self.gave_up:
            return "caller_gave_up"
        return "agent_hangup" if self._hangup.is_set() else "caller_hangup"

    async def _wait_idle_fast(self, ports: MediaPorts) -> None:
        deadline = time.monotonic() + self.max_wait_s
        while not self._agent_idle(ports) and not self._hangup.is_set():
            if time.monotonic() > deadline:
                self._hangup.set()  # a caller does not wait forever: give up on the call
                self.gave_up = True
                return
            out, has_audio = ports.playout.pull()
            if has_audio:
                self.recording.agent.append(out.copy())
                self.recording.caller.append(self._silence)
            else:
                await asyncio.sleep(0.002)
