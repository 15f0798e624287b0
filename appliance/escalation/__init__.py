"""Escalation detection without the LLM: when must a person take over the call?

``classify`` / ``EscalationDetector.classify`` label one utterance (German or
English) with rules and lexicons, backed by a small linear model only when no
rule fired; ``FailureTracker`` follows turn outcomes per call for the "two
failed attempts on the same concern" trigger. Both report the reason to record.
"""

from appliance.escalation.classifier import EscalationDetector, classify, default_detector
from appliance.escalation.linear import LinearModel
from appliance.escalation.results import (
    LABELS,
    CueHit,
    EscalationResult,
    Label,
    Trigger,
    TriggerEvent,
)
from appliance.escalation.settings import EscalationSettings
from appliance.escalation.tracker import FailureTracker, TurnOutcome

__all__ = [
    "LABELS",
    "CueHit",
    "EscalationDetector",
    "EscalationResult",
    "EscalationSettings",
    "FailureTracker",
    "Label",
    "LinearModel",
    "Trigger",
    "TriggerEvent",
    "TurnOutcome",
    "classify",
    "default_detector",
]
