"""Negation: a cue the caller denies does not escalate; a contrast does."""

from __future__ import annotations

import pytest

from appliance.escalation import classify
from appliance.escalation.negation import negated
from appliance.escalation.text import fold


@pytest.mark.parametrize(
    "text",
    [
        "ich will KEINEN Menschen",
        "Ich will keinen Menschen sprechen, nur meinen Kontostand wissen",
        "Einen Menschen brauche ich nicht",
        "Mit einem Mitarbeiter muss ich nicht sprechen",
        "no need for a person",
        "I don't need to speak to anyone, thanks",
        "I do not want a human, just the opening hours",
        "Sie müssen mich nicht verbinden",
        "please don't transfer me",
    ],
)
def test_negated_human_request_is_none(text: str) -> None:
    result = classify(text)
    assert result.label == "none", result.reason
    assert any(h.negated for h in result.hits) or "no escalation cue" in result.reason


@pytest.mark.parametrize(
    "text",
    [
        "Ich will mit einem Menschen sprechen, nicht mit einer Maschine",
        "I want to talk to a person, not a robot",
        "einen Menschen bitte, keinen Computer",
        "I don't want to talk to a machine",
        "Ich möchte nicht mit dem Computer reden",
    ],
)
def test_contrast_with_a_machine_is_a_request(text: str) -> None:
    assert classify(text).label == "human_request"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Es ist kein Notfall", "none"),
        ("this is not an emergency", "none"),
        ("Ich habe keine Brustschmerzen", "none"),
        ("I have no chest pain", "none"),
        ("I'm not angry", "none"),
        ("Ich bin nicht sauer", "none"),
        ("I don't want to cancel my account", "none"),
        ("Ich will nicht kündigen", "none"),
    ],
)
def test_denied_topics_and_symptoms(text: str, label: str) -> None:
    assert classify(text).label == label


@pytest.mark.parametrize(
    "text",
    [
        "Er atmet nicht",  # the negation is the symptom
        "Ich bekomme keine Luft",
        "Brustschmerzen, nicht so schlimm, aber seit einer Stunde",  # grading, not denial
        "chest pain that won't go away",
        "Ich habe Schmerzen in der Brust die nicht weggehen",  # relative clause
        "Kein Fieber, aber starke Brustschmerzen",  # the denial stays in its clause
        # ASR without commas: a later negator belongs to the next clause
        "ich will mich umbringen ich kann nicht mehr",
        "meine tochter hat tabletten geschluckt ich weiss nicht welche",
        "Brustschmerzen habe ich keine, sagt er, aber er ist bewusstlos",
        # safety over precision: a denial *after* a symptom is not trusted
        "Brustschmerzen habe ich keine",
    ],
)
def test_negation_inside_a_symptom_or_elsewhere_keeps_the_emergency(text: str) -> None:
    assert classify(text).label == "emergency"


def test_closing_negator_still_denies_a_request() -> None:
    assert classify("Mit einem Menschen möchte ich nicht sprechen").label == "none"
    assert classify("ich will mit einem menschen sprechen ich kann nicht mehr").label != "none"


def test_negated_looks_only_at_the_clause() -> None:
    text = fold("kein fieber, aber brustschmerzen")
    start = text.index("brustschmerzen")
    assert not negated(text, start, start + len("brustschmerzen"), scan_inside=False)
    text = fold("keine brustschmerzen")
    start = text.index("brustschmerzen")
    assert negated(text, start, start + len("brustschmerzen"), scan_inside=False)
