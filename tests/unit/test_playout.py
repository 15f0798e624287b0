import numpy as np

from appliance.audio.playout import PlayoutBuffer, PlayoutNotice


def make() -> tuple[PlayoutBuffer, list[PlayoutNotice]]:
    notices: list[PlayoutNotice] = []
    return PlayoutBuffer(8000, notify=notices.append), notices


def tone(samples: int, value: int = 1000) -> np.ndarray:
    return np.full(samples, value, dtype=np.int16)


def test_frames_come_out_in_order_then_silence() -> None:
    buffer, notices = make()
    buffer.push(1, "hello there", tone(400, 7))
    buffer.close_turn(1)
    frames = [buffer.pull() for _ in range(4)]
    assert [has for _, has in frames] == [True, True, True, False]
    assert frames[2][0][:80].tolist() == [7] * 80
    assert frames[2][0][80:].tolist() == [0] * 80
    assert [n.kind for n in notices] == ["first_audio", "drained"]


def test_pause_holds_position_and_resume_continues() -> None:
    buffer, _ = make()
    buffer.push(1, "a b", np.arange(480, dtype=np.int16))
    first, _ = buffer.pull()
    buffer.pause()
    assert not buffer.pull()[1]
    assert not buffer.audible()
    assert buffer.has_audio()
    buffer.resume()
    second, has = buffer.pull()
    assert has
    assert second[0] == first[-1] + 1


def test_flush_reports_what_was_heard() -> None:
    buffer, _ = make()
    buffer.push(3, "one two", tone(160))
    buffer.push(3, "three four five six", tone(640))
    buffer.pull()  # first segment fully
    buffer.pull()  # a quarter of the second
    heard = buffer.flush()
    assert [(h.text, h.fraction) for h in heard] == [
        ("one two", 1.0),
        ("three four five six", 0.25),
    ]
    assert not buffer.has_audio()


def test_drained_fires_immediately_for_an_empty_closed_turn() -> None:
    buffer, notices = make()
    buffer.close_turn(9)
    assert [(n.kind, n.turn_id) for n in notices] == [("drained", 9)]
