"""When does the caller start, pause, resume and finish a turn?

Plain state machine over VAD speech probabilities, one per 32 ms chunk, on the
call's media clock (never the wall clock), so tests drive it with numbers.

- a single chunk above the threshold is a *tentative onset* (enough to pause
  the agent's playback at once when the caller barges in);
- ``speech_onset_ms`` of speech confirm it (*speech start*), otherwise it is
  *rejected* (a click, a breath);
- ``speculate_after_ms`` of silence is a *pause*: the loop may start
  transcribing and thinking while it waits;
- speech again after a pause is a *resume*: speculative work is thrown away;
- ``end_of_turn_ms`` of silence ends the turn.
"""

from __future__ import annotations

from enum import StrEnum

from appliance.config import TurnSettings, VadSettings

CHUNK_MS = 32


class TurnSignal(StrEnum):
    TENTATIVE_ONSET = "tentative_onset"
    ONSET_REJECTED = "onset_rejected"
    SPEECH_START = "speech_start"
    PAUSE = "pause"
    RESUME = "resume"
    END_OF_TURN = "end_of_turn"


class _State(StrEnum):
    IDLE = "idle"
    ONSET = "onset"
    SPEECH = "speech"
    TRAILING = "trailing"


class TurnDetector:
    def __init__(self, turn: TurnSettings, vad: VadSettings, chunk_ms: int = CHUNK_MS) -> None:
        self.turn = turn
        self.vad = vad
        self.chunk_ms = chunk_ms
        self.now_ms = 0
        self._state = _State.IDLE
        self._run_ms = 0
        self._silence_ms = 0
        self._paused = False
        self.onset_ms = 0
        self.last_speech_end_ms = 0

    @property
    def in_utterance(self) -> bool:
        return self._state is not _State.IDLE

    @property
    def speaking(self) -> bool:
        """Confirmed speech is going on right now (not a pause)."""
        return self._state is _State.SPEECH

    @property
    def confirmed(self) -> bool:
        return self._state in (_State.SPEECH, _State.TRAILING)

    @property
    def speech_ms(self) -> int:
        """Duration from onset to the latest voiced chunk."""
        if not self.confirmed:
            return 0
        end = self.now_ms if self._state is _State.SPEECH else self.last_speech_end_ms
        return end - self.onset_ms

    @property
    def utterance_ms(self) -> int:
        """Duration of the current or, once it ended, the latest utterance."""
        if self._state is _State.SPEECH:
            return self.now_ms - self.onset_ms
        return max(0, self.last_speech_end_ms - self.onset_ms)

    def update(self, probability: float) -> list[TurnSignal]:
        """Advance the media clock by one chunk; return what happened in it."""
        start = self.now_ms
        self.now_ms += self.chunk_ms
        voiced = probability >= self.vad.threshold
        held = probability >= self.vad.release_threshold
        signals: list[TurnSignal] = []
        if self._state is _State.IDLE:
            self._idle(voiced, start, signals)
        elif self._state is _State.ONSET:
            self._onset(held, signals)
        elif self._state is _State.SPEECH:
            self._speech(held)
        else:
            self._trailing(voiced, signals)
        return signals

    def _idle(self, voiced: bool, start: int, signals: list[TurnSignal]) -> None:
        if voiced:
            self._state, self.onset_ms, self._run_ms = _State.ONSET, start, self.chunk_ms
            signals.append(TurnSignal.TENTATIVE_ONSET)
            if self._run_ms >= self.turn.speech_onset_ms:
                self._confirm(signals)

    def _onset(self, held: bool, signals: list[TurnSignal]) -> None:
        if held:
            self._run_ms += self.chunk_ms
            if self._run_ms >= self.turn.speech_onset_ms:
                self._confirm(signals)
        else:
            self._state = _State.IDLE
            signals.append(TurnSignal.ONSET_REJECTED)

    def _speech(self, held: bool) -> None:
        if held:
            self.last_speech_end_ms = self.now_ms
        else:
            self._state, self._silence_ms = _State.TRAILING, self.chunk_ms

    def _trailing(self, voiced: bool, signals: list[TurnSignal]) -> None:
        if voiced:
            self._state = _State.SPEECH
            self.last_speech_end_ms = self.now_ms
            if self._paused:
                self._paused = False
                signals.append(TurnSignal.RESUME)
            return
        self._silence_ms += self.chunk_ms
        if not self._paused and self._silence_ms >= self.turn.speculate_after_ms:
            self._paused = True
            signals.append(TurnSignal.PAUSE)
        if self._silence_ms >= self.turn.end_of_turn_ms:
            self._state, self._paused = _State.IDLE, False
            signals.append(TurnSignal.END_OF_TURN)

    def _confirm(self, signals: list[TurnSignal]) -> None:
        self._state = _State.SPEECH
        self.last_speech_end_ms = self.now_ms
        self._paused = False
        signals.append(TurnSignal.SPEECH_START)
