"""The agent's outgoing audio, pulled frame by frame by the transport's clock.

The transport (a pjsua2 media thread, an aiortc track, a simulated caller)
calls ``pull`` every 20 ms from its own thread and never waits for the event
loop: everything here is guarded by one short lock. The voice loop pushes
speech in, and pauses, resumes or flushes it for barge-in. What was actually
played is tracked per segment, so an interrupted answer can be recorded as the
words the caller really heard.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from appliance.audio.frames import FRAME_MS, samples_per_frame
from appliance.speech.stt import Int16Audio


@dataclass(frozen=True, slots=True)
class PlayoutNotice:
    """Told to the voice loop from the transport thread (via a thread-safe hop)."""

    kind: str  # "first_audio" | "drained"
    turn_id: int
    perf_time: float


@dataclass(slots=True)
class _Segment:
    turn_id: int
    text: str
    audio: Int16Audio
    played: int = 0


@dataclass(frozen=True, slots=True)
class Heard:
    turn_id: int
    text: str
    fraction: float


@dataclass(slots=True)
class _Turn:
    started: bool = False
    pending_segments: int = 0
    closed: bool = False
    heard: list[Heard] = field(default_factory=list)


class PlayoutBuffer:
    def __init__(
        self,
        sample_rate: int,
        *,
        notify: Callable[[PlayoutNotice], None],
        frame_ms: int = FRAME_MS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = samples_per_frame(sample_rate, frame_ms)
        self.tap: Callable[[Int16Audio], None] | None = None
        """Sees every frame pulled, silence included (call recording)."""
        self._notify = notify
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: deque[_Segment] = deque()
        self._paused = False
        self._turns: dict[int, _Turn] = {}
        self._silence = np.zeros(self.frame_samples, dtype=np.int16)
        self.frames_played = 0

    # -- voice loop side -------------------------------------------------

    def push(self, turn_id: int, text: str, audio: Int16Audio) -> None:
        with self._lock:
            turn = self._turns.setdefault(turn_id, _Turn())
            turn.pending_segments += 1
            self._queue.append(_Segment(turn_id, text, audio))

    def close_turn(self, turn_id: int) -> None:
        """No more audio will come for this turn; 'drained' fires once it has played."""
        notice = None
        with self._lock:
            turn = self._turns.setdefault(turn_id, _Turn())
            turn.closed = True
            if turn.pending_segments == 0:
                notice = PlayoutNotice("drained", turn_id, self._clock())
                del self._turns[turn_id]
        if notice:
            self._notify(notice)

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def flush(self) -> list[Heard]:
        """Drop everything not yet played; return what each dropped turn got heard."""
        with self._lock:
            heard: list[Heard] = [h for turn in self._turns.values() for h in turn.heard]
            for segment in self._queue:
                if segment.played:
                    heard.append(
                        Heard(segment.turn_id, segment.text, segment.played / len(segment.audio))
                    )
            self._queue.clear()
            self._turns.clear()
            self._paused = False
            return heard

    @property
    def paused(self) -> bool:
        return self._paused

    def has_audio(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def audible(self) -> bool:
        """Agent audio is coming out of the speaker right now."""
        with self._lock:
            return bool(self._queue) and not self._paused

    # -- transport side --------------------------------------------------

    def pull(self) -> tuple[Int16Audio, bool]:
        """The next 20 ms frame and whether it carries agent audio (else silence)."""
        notices: list[PlayoutNotice] = []
        with self._lock:
            if self._paused or not self._queue:
                if self.tap is not None:
                    self.tap(self._silence)
                return self._silence, False
            out = np.empty(self.frame_samples, dtype=np.int16)
            filled = 0
            while filled < self.frame_samples and self._queue:
                segment = self._queue[0]
                turn = self._turns.setdefault(segment.turn_id, _Turn())
                if not turn.started:
                    turn.started = True
                    notices.append(PlayoutNotice("first_audio", segment.turn_id, self._clock()))
                take = min(self.frame_samples - filled, len(segment.audio) - segment.played)
                out[filled : filled + take] = segment.audio[segment.played : segment.played + take]
                filled += take
                segment.played += take
                if segment.played >= len(segment.audio):
                    self._queue.popleft()
                    turn.pending_segments -= 1
                    turn.heard.append(Heard(segment.turn_id, segment.text, 1.0))
                    if turn.closed and turn.pending_segments == 0:
                        notices.append(PlayoutNotice("drained", segment.turn_id, self._clock()))
                        del self._turns[segment.turn_id]
            out[filled:] = 0
            self.frames_played += 1
        for notice in notices:
            self._notify(notice)
        if self.tap is not None:
            self.tap(out)
        return out, True
