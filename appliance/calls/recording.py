"""Recording both directions of a call, when the operator switches it on.

The taps run on the transport's media thread, so they only hand frames to a
queue; a writer thread appends them to two mono WAV files (caller and agent,
same rate and timeline: the agent side records silence when it says nothing)
under ``<recording.dir or data_dir/recordings>/<call_id>/``. Retention and
erasure belong to the compliance layer; the store finds the files by call id.
"""

from __future__ import annotations

import queue
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

from appliance.speech.stt import Int16Audio

_STOP = None


@dataclass(frozen=True)
class Recording:
    caller: Path
    agent: Path
    seconds: float


class CallRecorder:
    def __init__(self, folder: Path, sample_rate: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.sample_rate = sample_rate
        self._queue: queue.SimpleQueue[tuple[str, bytes] | None] = queue.SimpleQueue()
        self._samples = {"caller": 0, "agent": 0}
        self._writer = threading.Thread(target=self._write, name="call-recorder", daemon=True)
        self._writer.start()

    # -- taps: any thread, never blocking ---------------------------------

    def caller(self, frame: Int16Audio) -> None:
        self._queue.put(("caller", frame.tobytes()))

    def agent(self, frame: Int16Audio) -> None:
        self._queue.put(("agent", frame.tobytes()))

    # -- end of call ------------------------------------------------------

    def close(self) -> Recording:
        self._queue.put(_STOP)
        self._writer.join(timeout=30)
        seconds = max(self._samples.values()) / self.sample_rate
        return Recording(self.folder / "caller.wav", self.folder / "agent.wav", seconds)

    def _write(self) -> None:
        files = {}
        for side in ("caller", "agent"):
            out = wave.open(str(self.folder / f"{side}.wav"), "wb")  # noqa: SIM115 - closed below
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            files[side] = out
        try:
            while (item := self._queue.get()) is not _STOP:
                side, data = item
                files[side].writeframes(data)
                self._samples[side] += len(data) // 2
        finally:
            for out in files.values():
                out.close()
