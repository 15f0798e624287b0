"""Is a caller turn small talk ("hello", "thanks", "ja, genau") rather than a question?

Small talk needs no knowledge: the agent answers it without passages (and the
grounding check still forbids facts). Everything else is treated as a request
for information, which the knowledge base must answer or the agent says it
does not know.
"""

from __future__ import annotations

import re

_SMALL_TALK_WORDS = """
    hello hi hey hallo servus moin good morning afternoon evening day guten morgen tag abend
    thanks thank you very much cheers danke dankeschön schön vielen dank sehr herzlichen
    bye goodbye tschüss tschüs wiederhören wiederschauen auf see later
    yes yeah yep no nope okay ok alright right fine great perfect sure
    ja nein jo genau gut prima super klar alles in ordnung passt stimmt richtig
    please bitte that's it das war's wars all mhm uh um äh ähm oh ah well so also na
"""
_SMALL_TALK = frozenset(_SMALL_TALK_WORDS.split())
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def is_small_talk(text: str) -> bool:
    words = _WORD.findall(text.lower())
    return bool(words) and len(words) <= 8 and all(w in _SMALL_TALK for w in words)
