"""Classify one caller utterance: emergency, human_request, complex, emotional or none.

Rules and lexicons first: every decision names the cue that fired, the lexicon
is auditable line by line, and a sentence runs in well under a millisecond.
Steps: fold the text; find every cue; drop cues inside an idiom (``BLOCKERS``),
negated ones and those whose ``unless`` context applies; damp cues in sentences
that ask *about* a condition or recall the past; combine the surviving weights
per label (noisy-or); pick the label by precedence (emergency, then an explicit
request for a person, then the stronger of complex and emotional).

Only when no rule fired and nothing was negated or blocked, the linear
backstop (``linear.py``) may name a label if its probability reaches
``model_threshold``; the reason then says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache

from appliance.escalation.lexicon import (
    BLOCKERS,
    COMPLEX_TOPICS,
    CONTEXTS,
    EMERGENCY,
    EMOTIONAL,
    HUMAN_REQUEST,
    HUMAN_REQUEST_BLOCKERS,
    Cue,
    builtin_topics,
    custom_topic_cue,
)
from appliance.escalation.linear import LinearModel, load_default
from appliance.escalation.negation import negated
from appliance.escalation.results import LABELS, CueHit, EscalationResult, Label
from appliance.escalation.settings import EscalationSettings
from appliance.escalation.text import fold, sentence_bounds

_PRECEDENCE: tuple[Label, ...] = ("emergency", "human_request")
_COMPETING: tuple[Label, ...] = ("complex", "emotional")


def _blocked(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def _noisy_or(weights: Iterable[float]) -> float:
    return 1.0 - math.prod(1.0 - w for w in weights)


@dataclass(frozen=True)
class _Scan:
    hits: tuple[CueHit, ...]
    dropped: tuple[CueHit, ...]
    blocked: bool  # an idiom or name matched: the words are known, not a paraphrase


@cache
def _shipped_model() -> LinearModel | None:
    return load_default()


def _scan(folded: str, cues: tuple[Cue, ...]) -> _Scan:
    blocked = [(m.start(), m.end()) for b in BLOCKERS for m in b.finditer(folded)]
    person_blocked = [
        (m.start(), m.end()) for b in HUMAN_REQUEST_BLOCKERS for m in b.finditer(folded)
    ]
    kept: list[CueHit] = []
    dropped: list[CueHit] = []
    for cue in cues:
        for found in cue.pattern.finditer(folded):
            start, end = found.span()
            if start == end or _blocked(blocked, start, end):
                continue
            if cue.label == "human_request" and _blocked(person_blocked, start, end):
                continue
            s_left, s_right = sentence_bounds(folded, start, end)
            sentence = folded[s_left:s_right]
            if cue.unless is not None and cue.unless.search(sentence):
                continue
            hit = CueHit(
                label=cue.label,
                cue=cue.name,
                matched=found.group(0),
                start=start,
                end=end,
                weight=cue.weight,
                topic=cue.topic,
            )
            if cue.negatable and negated(
                folded,
                start,
                end,
                scan_inside=cue.scan_inside,
                lookahead=cue.label != "emergency",
            ):
                dropped.append(replace(hit, weight=0.0, negated=True))
                continue
            for context in CONTEXTS:
                if cue.label in context.labels and context.pattern.search(sentence):
                    hit = replace(hit, weight=hit.weight * context.factor, damped_by=context.name)
                    break
            kept.append(hit)
    # A caller who denies a topic anywhere ("ich will *nicht* kündigen") is not
    # raising it by naming it elsewhere ("die Kündigungsfrist"). Emergencies are
    # exempt: a denied symptom never hides another one.
    denied = {h.cue for h in dropped if h.label != "emergency"}
    kept = [h for h in kept if h.cue not in denied]
    return _Scan(tuple(kept), tuple(dropped), bool(blocked))


class EscalationDetector:
    """Compiled once from the settings; ``classify`` is pure and thread-safe."""

    def __init__(
        self, settings: EscalationSettings | None = None, model: LinearModel | None = None
    ) -> None:
        self.settings = settings or EscalationSettings()
        self.model = (model or _shipped_model()) if self.settings.model_backstop else None
        self._enabled: set[Label] = {
            label
            for label in ("emergency", "human_request", "complex", "emotional")
            if getattr(self.settings, label)
        }
        # The model learnt "complex" from all built-in topics; with some switched
        # off it cannot tell which topic it saw, so only rules may say complex.
        self._model_labels = set(self._enabled)
        if not set(builtin_topics()) <= set(self.settings.enabled_topics()):
            self._model_labels.discard("complex")
        cues: list[Cue] = []
        if self.settings.emergency:
            cues += EMERGENCY
        if self.settings.human_request:
            cues += HUMAN_REQUEST
        if self.settings.complex:
            for topic in self.settings.enabled_topics():
                if topic in self.settings.custom_topics:
                    cues.append(custom_topic_cue(topic, self.settings.custom_topics[topic]))
                else:
                    cues += COMPLEX_TOPICS[topic]
        if self.settings.emotional:
            cues += EMOTIONAL
        self._cues = tuple(cues)

    def classify(self, text: str) -> EscalationResult:
        folded = fold(text)
        scan = _scan(folded, self._cues)
        scores: dict[Label, float] = {
            label: round(_noisy_or(h.weight for h in scan.hits if h.label == label), 4)
            for label in LABELS
            if label != "none"
        }
        threshold = self.settings.threshold
        label = _decide(scores, threshold)
        all_hits = tuple(sorted(scan.hits + scan.dropped, key=lambda h: h.start))
        if label == "none" and not scan.hits and not scan.dropped and not scan.blocked:
            backstop = self._backstop(text, scores, all_hits)
            if backstop is not None:
                return backstop
        if label == "none":
            scores_none: dict[Label, float] = {**scores, "none": 1.0 - max(scores.values())}
            return EscalationResult(
                "none", scores_none["none"], _none_reason(scan), all_hits, scores_none
            )
        winners = sorted(
            (h for h in scan.hits if h.label == label), key=lambda h: h.weight, reverse=True
        )
        cues = ", ".join(dict.fromkeys(f"{h.cue} ({h.matched!r})" for h in winners))
        reason = f"{label}: {cues}"
        return EscalationResult(label, scores[label], reason, all_hits, scores)

    def _backstop(
        self, text: str, scores: dict[Label, float], hits: tuple[CueHit, ...]
    ) -> EscalationResult | None:
        if self.model is None:
            return None
        probs = self.model.probabilities(text)
        label = max(probs, key=lambda k: probs[k])
        if label == "none" or label not in self._model_labels:
            return None
        if probs[label] < self.settings.model_threshold:
            return None
        reason = f"{label}: model p={probs[label]:.2f} (no rule fired)"
        return EscalationResult(label, round(probs[label], 4), reason, hits, {**scores, **probs})


def _decide(scores: dict[Label, float], threshold: float) -> Label:
    for label in _PRECEDENCE:
        if scores[label] >= threshold:
            return label
    complex_score, emotional_score = (scores[label] for label in _COMPETING)
    if max(complex_score, emotional_score) < threshold:
        return "none"
    return "emotional" if emotional_score > complex_score else "complex"


def _none_reason(scan: _Scan) -> str:
    if scan.dropped:
        parts = ", ".join(f"{h.cue} ({h.matched!r})" for h in scan.dropped)
        return f"none: negated cue(s) {parts}"
    if scan.hits:
        parts = ", ".join(f"{h.cue} ({h.matched!r}, {h.weight:.2f})" for h in scan.hits)
        return f"none: below threshold: {parts}"
    return "none: no escalation cue"


@cache
def default_detector() -> EscalationDetector:
    return EscalationDetector()


def classify(text: str) -> EscalationResult:
    """Classify with the default settings (every trigger on, built-in topics)."""
    return default_detector().classify(text)
