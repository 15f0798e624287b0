"""Recording both directions of a call on one timeline (recording.enabled)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.resample import resample
from appliance.calls.events import CallEnded, RecordingStored
from appliance.calls.session import run_call
from appliance.config import Settings
from appliance.engines import Engines
from appliance.telephony.simulated import CallerTurn, SimulatedCaller
from tests.support.calls import RATE, say
from tests.support.speech import normalise_words

pytestmark = pytest.mark.asyncio


def samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


async def test_both_sides_are_recorded_where_the_store_will_find_them(
    engines: Engines, settings: Settings, tmp_path: Path
) -> None:
    recorded = settings.with_overrides(recording={"enabled": True, "dir": str(tmp_path)})
    question = await say(engines, "Where is the emergency entrance?")
    caller = SimulatedCaller(
        [CallerTurn(question, after_agent_idle_ms=300)], sample_rate=RATE, realtime=True
    )
    record = await run_call(engines, caller, recorded)

    stored = record.of(RecordingStored)
    assert len(stored) == 1
    assert stored[0].seq < record.of(CallEnded)[0].seq
    assert Path(stored[0].caller_path) == tmp_path / record.call_id / "caller.wav"
    caller_side, agent_side = (
        samples(Path(stored[0].caller_path)),
        samples(Path(stored[0].agent_path)),
    )
    # One timeline: every 20 ms tick delivered a caller frame and pulled an agent frame.
    assert abs(len(caller_side) - len(agent_side)) <= RATE // 50 * 3
    assert stored[0].seconds == pytest.approx(len(caller_side) / RATE, abs=0.1)

    heard_caller = await engines.stt.transcribe(resample(caller_side, RATE, 16_000), language="en")
    assert {"emergency", "entrance"} <= set(normalise_words(heard_caller.text))
    heard_agent = await engines.stt.transcribe(
        resample(agent_side[: RATE * 8], RATE, 16_000), language="en"
    )
    assert {"assistant", "help"} <= set(normalise_words(heard_agent.text))  # the greeting
