"""A fast loudness gate that tracks the line's noise floor.

Silero needs two or three 32 ms chunks before it is sure of speech; a caller
barging in should silence the agent sooner than that. A frame well above the
line's noise floor pauses playback at once (tentatively); the VAD then
confirms the speech or the pause is undone.
"""

from __future__ import annotations

from appliance.audio.frames import rms_dbfs
from appliance.speech.stt import Int16Audio


class LoudnessGate:
    def __init__(
        self,
        *,
        margin_db: float = 15.0,
        min_dbfs: float = -40.0,
        initial_floor_dbfs: float = -60.0,
        rise_db_per_frame: float = 0.05,
    ) -> None:
        self.margin_db = margin_db
        self.min_dbfs = min_dbfs
        self.floor_dbfs = initial_floor_dbfs
        self.rise_db_per_frame = rise_db_per_frame

    def loud(self, frame: Int16Audio) -> bool:
        """Update the floor with this frame; is it clearly louder than the line noise?"""
        level = max(rms_dbfs(frame), -100.0)
        is_loud = level > max(self.floor_dbfs + self.margin_db, self.min_dbfs)
        if level < self.floor_dbfs:
            self.floor_dbfs = level  # the floor falls at once ...
        elif not is_loud:
            self.floor_dbfs += self.rise_db_per_frame  # ... and rises slowly with steady noise
        return is_loud
