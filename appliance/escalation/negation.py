"""Is a cue negated? A look into its clause, before, inside and after it.

German puts the negator before the object ("ich will *keinen* Menschen"), after a
fronted object ("einen Menschen brauche ich *nicht*") or between the parts of a
co-occurrence cue; English mostly before ("I *don't* need a person", "*no* need
for a person"). A negator that only contrasts ("a person, not a machine") or
grades ("nicht so schlimm") does not negate.
"""

from __future__ import annotations

import re

from appliance.escalation.text import clause_bounds, fold_pattern

_NEGATOR = re.compile(
    fold_pattern(
        r"\b(?:nicht|nie|niemals|kein\w*|ohne|weder|nichts|niemand\w*|not|never|dont|doesnt|"
        r"didnt|wont|wouldnt|isnt|arent|wasnt|no need|no one|nobody|without|neither|nor|"
        r"no(?! (?:i|im|ich|thanks|thank|please|sorry|idea)\b))\b"
    )
)
# "nicht mit einem Computer", "not a robot": a contrast, the request stands.
_CONTRAST = re.compile(
    fold_pattern(
        r"^\s*(?:nicht|not|kein\w*|no)\s+(?:mit\s+|to\s+|with\s+)?"
        r"(?:(?:a|an|the|this|that|some|einer?m?|einen|der|dem|die|das|diese\w*|so\s+\w+)\s+)?"
        r"(?:stupid\s+|blöde\w*\s+)?(?:maschine\w*|machine\w*|computer\w*|roboter\w*|robot\w*|"
        r"bot|bots|automat\w*|ki|ai|band|recording|chatbot\w*|dir|ihnen|you|it|dem ding)\b"
    )
)
# After the cue only a German-style closing negator counts ("einen Menschen
# brauche ich nicht"), and not inside a relative clause ("die nicht weggehen").
_LATE_NEGATOR = re.compile(
    fold_pattern(r"\b(?:nicht|keine?n?|not needed|not necessary|unnecessary|no need)\b")
)
_RELATIVE = re.compile(
    fold_pattern(r"^\s*(?:die|der|das|den|dem|welche\w*|that|which|who|wo|was|so)\b")
)
# "nicht so schlimm", "not very": grading, not negation.
_GRADING = re.compile(
    fold_pattern(r"^\s*(?:nicht|not)\s+(?:so|sehr|ganz|mehr so|too|that|very|really|sure)\b")
)

LOOKBACK_WORDS = 4
LOOKAHEAD_WORDS = 4


def _words(text: str) -> list[str]:
    return text.split()


def negated(text: str, start: int, end: int, *, scan_inside: bool, lookahead: bool = True) -> bool:
    """True if the cue at ``[start, end)`` of folded ``text`` is negated in its clause.

    ``lookahead=False`` ignores negators after the cue: ASR drops the commas that
    would end the clause ("ich will mich umbringen ich kann nicht mehr"), so a
    safety-critical cue is only negated by what precedes it.
    """
    left, right = clause_bounds(text, start, end)
    before = " ".join(_words(text[left:start])[-LOOKBACK_WORDS:])
    for found in _NEGATOR.finditer(before):
        if not _CONTRAST.match(before[found.start() :]) and not _GRADING.match(
            before[found.start() :]
        ):
            return True
    if scan_inside:
        inside = text[start:end]
        for found in _NEGATOR.finditer(inside):
            if not _CONTRAST.match(inside[found.start() :]):
                return True
    after_words = _words(text[end:right])
    if not lookahead:
        return False
    after = " ".join(after_words)
    # Only a negator that closes the clause counts: "... brauche ich nicht",
    # "... möchte ich nicht sprechen"; not "... ich kann nicht mehr".
    closing = " ".join(after_words[-2:])
    if len(after_words) <= LOOKAHEAD_WORDS and not _RELATIVE.match(after):
        for found in _LATE_NEGATOR.finditer(closing):
            tail = closing[found.start() :]
            if not _CONTRAST.match(tail) and not _GRADING.match(tail):
                return True
    return False
