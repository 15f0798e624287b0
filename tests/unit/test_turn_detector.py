from appliance.calls.turn_detector import TurnDetector, TurnSignal
from appliance.config import TurnSettings, VadSettings

SPEECH, QUIET = 0.9, 0.05


def run(detector: TurnDetector, probabilities: list[float]) -> list[tuple[int, TurnSignal]]:
    out = []
    for probability in probabilities:
        out += [(detector.now_ms, signal) for signal in detector.update(probability)]
    return out


def make() -> TurnDetector:
    return TurnDetector(
        TurnSettings(speech_onset_ms=64, speculate_after_ms=192, end_of_turn_ms=544),
        VadSettings(threshold=0.5, release_threshold=0.35),
    )


def test_a_turn_goes_onset_start_pause_end_on_the_media_clock() -> None:
    detector = make()
    signals = run(detector, [QUIET] * 3 + [SPEECH] * 20 + [QUIET] * 20)
    assert [s for _, s in signals] == [
        TurnSignal.TENTATIVE_ONSET,
        TurnSignal.SPEECH_START,
        TurnSignal.PAUSE,
        TurnSignal.END_OF_TURN,
    ]
    times = dict((s, t) for t, s in signals)
    assert detector.onset_ms == 96
    assert times[TurnSignal.PAUSE] - detector.last_speech_end_ms == 192
    assert times[TurnSignal.END_OF_TURN] - detector.last_speech_end_ms == 544
    assert detector.last_speech_end_ms == 96 + 20 * 32


def test_a_click_is_a_rejected_onset() -> None:
    signals = run(make(), [SPEECH, QUIET, QUIET])
    assert [s for _, s in signals] == [TurnSignal.TENTATIVE_ONSET, TurnSignal.ONSET_REJECTED]


def test_speech_after_a_pause_resumes_the_same_turn() -> None:
    detector = make()
    signals = run(detector, [SPEECH] * 10 + [QUIET] * 8 + [SPEECH] * 10 + [QUIET] * 20)
    kinds = [s for _, s in signals]
    assert kinds == [
        TurnSignal.TENTATIVE_ONSET,
        TurnSignal.SPEECH_START,
        TurnSignal.PAUSE,
        TurnSignal.RESUME,
        TurnSignal.PAUSE,
        TurnSignal.END_OF_TURN,
    ]
    assert detector.onset_ms == 0


def test_hysteresis_keeps_speech_between_the_thresholds() -> None:
    detector = make()
    run(detector, [SPEECH] * 5 + [0.4] * 30)
    assert detector.speaking  # 0.4 is above the release threshold


def test_speech_duration_is_tracked_for_backchannel_decisions() -> None:
    detector = make()
    run(detector, [SPEECH] * 10 + [QUIET] * 7)
    assert detector.speech_ms == 320
