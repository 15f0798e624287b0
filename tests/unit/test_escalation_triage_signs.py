"""Standard triage signs phrased without the usual verbs (my own wording)."""

from __future__ import annotations

import pytest

from appliance.escalation.classifier import classify


@pytest.mark.parametrize(
    "text",
    [
        "The toddler is all limp and blue",
        "Unser Kleiner ist schlaff und ganz grau",
        "Opa liegt im Badezimmer und reagiert gar nicht",
        "My dad is lying in the garden and isn't answering",
        "I've bought a rope, I'm done",
        "Ich habe mir schon eine Schlinge geknüpft",
        "I don't want to be here anymore",
        "He swallowed all of his sleeping pills",
        "Sie hat eine ganze Packung Schlaftabletten genommen",
        "Meine Frau kann plötzlich nicht mehr sprechen",
        "Her face suddenly looks lopsided",
    ],
)
def test_triage_signs_are_emergencies(text: str) -> None:
    assert classify(text).label == "emergency", classify(text).reason


@pytest.mark.parametrize(
    "text",
    [
        "I got a new rope for the boat, can I pay by card?",
        "Die Überweisung liegt schon bei Ihnen, wann wird sie gebucht?",
        "Sie versteht nicht, warum die Rechnung so hoch ist",
    ],
)
def test_look_alikes_are_not(text: str) -> None:
    assert classify(text).label != "emergency", classify(text).reason
