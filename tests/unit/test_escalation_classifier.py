"""The rule-based escalation classifier on the development set and on chosen cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.escalation import LABELS, EscalationDetector, classify

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "escalation_dev.jsonl"
ROWS = [json.loads(line) for line in DEV_SET.read_text("utf-8").splitlines() if line.strip()]


def test_dev_set_covers_every_label_in_both_languages() -> None:
    for label in LABELS:
        for lang in ("de", "en"):
            assert sum(r["label"] == label and r["lang"] == lang for r in ROWS) >= 10, (label, lang)


@pytest.mark.parametrize(
    ("text", "label"),
    [(r["text"], r["label"]) for r in ROWS],
    ids=[f"{r['label']}-{r['lang']}-{i}" for i, r in enumerate(ROWS)],
)
def test_dev_set_utterance(text: str, label: str) -> None:
    result = classify(text)
    assert result.label == label, result.reason


@pytest.mark.parametrize(
    "text",
    [
        "Mir geht es gut, aber mein Mann hat Brustschmerzen und ich will mich beschweren",
        "I want to speak to a person, my wife is unconscious",
        "Ich bin wütend und verzweifelt, er atmet nicht mehr",
    ],
)
def test_emergency_outranks_every_other_label(text: str) -> None:
    result = classify(text)
    assert result.label == "emergency"
    assert result.scores["emergency"] >= 0.5
    assert any(s >= 0.5 for label, s in result.scores.items() if label != "emergency")


def test_human_request_outranks_complex_and_emotional() -> None:
    result = classify(
        "Ich bin stinksauer, ich will kündigen, verbinden Sie mich mit einem Menschen"
    )
    assert result.label == "human_request"
    assert result.scores["complex"] >= 0.5
    assert result.scores["emotional"] >= 0.5


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Ich habe Brustschmerzen", "chest_pain"),
        ("Ich habe Brust-Schmerzen", "chest_pain"),
        ("Ich habe Brust schmerzen", "chest_pain"),
        ("Er hatte wohl einen Schlaganfall", "stroke"),
        ("Verdacht auf Herzinfarkt", "heart_attack"),
        ("Sie ist bewusstlos", "unconscious"),
        ("Er ist ohnmaechtig", "unconscious"),
        ("Er ist ohnmachtig", "unconscious"),
        ("Sie hat eine Ueberdosis genommen", "overdose_poisoning"),
        ("Sie hat eine Uberdosis genommen", "overdose_poisoning"),
        ("he's not breathing", "not_breathing"),
        ("he is not breathing", "not_breathing"),
        ("I cant breathe", "not_breathing"),
    ],
)
def test_compounds_umlaut_variants_and_asr_spellings(text: str, cue: str) -> None:
    result = classify(text)
    assert result.label == "emergency"
    assert cue in result.reason


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Ich möchte meine Kündigung einreichen", "cancellation"),
        ("Ich moechte meine Kuendigung einreichen", "cancellation"),
        ("Ich möchte die Kontokündigung besprechen", "cancellation"),
        ("Ich will mich beschweren", "complaint"),
        ("Mein Rechtsanwalt meldet sich", "legal"),
        ("Können wir über Ratenzahlung reden?", "negotiation"),
    ],
)
def test_complex_result_names_its_topic(text: str, topic: str) -> None:
    result = classify(text)
    assert result.label == "complex"
    assert result.topic == topic


@pytest.mark.parametrize(
    "text",
    [
        "my heart is set on the 3 pm slot",
        "I'm dying to know my balance",
        "Notfallsprechstunde Öffnungszeiten?",
        "Notfallpraxis am Wochenende?",
        "Ich wollte mich erkundigen, wann die Kasse offen hat",
        "Herzliche Grüße und danke",
        "Ich habe Magenbeschwerden, wann ist Sprechstunde?",
        "What a stroke of genius, thanks",
        "The app is not responding",
        "Wo ist die Zentrale Notaufnahme?",
        "I'm afraid I have to move my appointment",
        "Cancel my appointment on Monday please",
        "Bitte sagen Sie dem Arzt, dass ich später komme",
        "My insurance agent told me to call",
        "Is it possible to speak English with the doctors?",
    ],
)
def test_hard_negatives_do_not_escalate(text: str) -> None:
    result = classify(text)
    assert result.label == "none", result.reason
    assert not result.escalate


@pytest.mark.parametrize(
    "text",
    [
        "Hallo?",
        "Ja",
        "Okay danke",
        "Can you hear me?",
        "Entschuldigung, wie bitte?",
        "Ich rufe wegen meiner Mutter an",
        "I feel sick, can I get an appointment today?",
        "Ich brauche ein neues Rezept für meine Herztabletten",
        "My chest x-ray results, are they ready?",
        "Thank you so much, goodbye",
    ],
)
def test_everyday_turns_do_not_escalate(text: str) -> None:
    assert classify(text).trigger_event() is None


def test_trigger_event_carries_label_reason_and_score() -> None:
    result = classify("Verbinden Sie mich mit einem Menschen")
    event = result.trigger_event()
    assert event is not None
    assert (event.trigger, event.reason, event.score) == (
        "human_request",
        result.reason,
        result.score,
    )


def test_result_carries_reason_score_and_hits() -> None:
    result = classify("Mein Vater hat einen Schlaganfall")
    assert result.escalate
    assert result.reason.startswith("emergency: stroke")
    assert 0.5 <= result.score <= 1.0
    hit = next(h for h in result.hits if h.cue == "stroke")
    assert hit.matched == "schlaganfall"
    assert hit.label == "emergency"


def test_single_information_mention_is_damped_but_two_cues_still_fire() -> None:
    asked = classify("Was sind die Symptome eines Herzinfarkts?")
    assert asked.label == "none"
    assert any(h.damped_by == "information_question" for h in asked.hits)
    acute = classify("Symptome wie beim Herzinfarkt, er ist bewusstlos und atmet nicht")
    assert acute.label == "emergency"


def test_none_reason_says_nothing_fired() -> None:
    result = classify("Wann hat die Filiale geöffnet?")
    assert result.label == "none"
    assert result.reason == "none: no escalation cue"
    assert result.hits == ()


def test_detector_is_reusable_and_deterministic() -> None:
    detector = EscalationDetector()
    first = detector.classify("Ich will mit einem Menschen sprechen")
    second = detector.classify("Ich will mit einem Menschen sprechen")
    assert first == second
    assert first.label == "human_request"
