import pytest

from appliance.calls.bus import CallEmitter, EventBus
from appliance.calls.events import (
    EVENT_TYPES,
    AgentText,
    BargeIn,
    CallEnded,
    CallEvent,
    CallStarted,
    Dtmf,
    Hangup,
    Priority,
    TranscriptFinal,
)


@pytest.mark.asyncio
async def test_control_events_overtake_pending_media_and_text() -> None:
    bus = EventBus()
    subscription = bus.subscribe("c1")
    emitter = CallEmitter("c1", bus, wall_clock=lambda: 1000.0)
    emitter.emit(AgentText, turn_id=1, text="hello", source="llm")
    emitter.emit(TranscriptFinal, turn_id=1, text="hi", start_ms=0, end_ms=5, language="en")
    emitter.emit(BargeIn, turn_id=1, onset_ms=1, playback_stopped_ms=2, heard_text="")
    emitter.emit(Dtmf, digit="0")
    subscription.close()
    kinds = [event.kind async for event in subscription]
    assert kinds == ["barge_in", "dtmf", "agent_text", "transcript_final"]


@pytest.mark.asyncio
async def test_call_ended_comes_after_everything_of_its_call() -> None:
    """A subscriber that fell behind still reads the hang-up first, but the call's
    end only once it has the rest of the call (its last transcript included)."""
    bus = EventBus()
    subscription = bus.subscribe()
    emitter = CallEmitter("c1", bus, wall_clock=lambda: 1000.0)
    emitter.emit(CallStarted, transport="sip", language="de")
    emitter.emit(TranscriptFinal, turn_id=1, text="hallo", start_ms=0, end_ms=5, language="de")
    emitter.emit(Hangup, by="caller")
    emitter.emit(CallEnded, reason="caller_hangup")
    subscription.close()
    kinds = [event.kind async for event in subscription]
    assert kinds == ["hangup", "call_started", "transcript_final", "call_ended"]


@pytest.mark.asyncio
async def test_every_subscriber_gets_every_event_of_its_call_stamped() -> None:
    bus = EventBus()
    everything, only_c2 = bus.subscribe(), bus.subscribe("c2")
    one, two = CallEmitter("c1", bus), CallEmitter("c2", bus)
    one.media_ms = 320
    first = one.emit(Dtmf, digit="1")
    two.emit(Dtmf, digit="2")
    assert (first.call_id, first.seq, first.media_ms) == ("c1", 1, 320)
    assert everything.pending() == 2
    assert only_c2.pending() == 1
    event = await only_c2.get()
    assert isinstance(event, Dtmf)
    assert event.digit == "2"


def test_the_event_set_is_closed_and_serialisable() -> None:
    kinds = [cls.kind for cls in EVENT_TYPES]
    assert len(kinds) == len(set(kinds))
    assert all(issubclass(cls, CallEvent) for cls in EVENT_TYPES)
    controls = {cls.kind for cls in EVENT_TYPES if cls.priority is Priority.CONTROL}
    assert {"hangup", "barge_in", "dtmf"} <= controls
    event = Dtmf(call_id="c", seq=1, at=0.0, media_ms=0, digit="5")
    assert event.to_dict() == {
        "call_id": "c",
        "seq": 1,
        "at": 0.0,
        "media_ms": 0,
        "digit": "5",
        "kind": "dtmf",
    }
