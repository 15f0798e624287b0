"""Does an answer state only what its passages say?

An answer passes when every number (times, amounts, phone numbers, counts) and
every name it states appears in the retrieved passages, the caller's question
or the organisation's own name, and when it is not merely the caller's
question read back (a failure mode of small models). The check is per chunk, so a streamed answer is
checked sentence by sentence before each sentence is spoken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from appliance.agent.facts import extract_facts, stem, vocabulary
from appliance.knowledge.keyword import tokens

# Share of an answer's keywords that may come from the question alone before
# the answer counts as an echo of it.
ECHO_SHARE = 0.8


@dataclass(frozen=True)
class GroundingResult:
    passed: bool
    unsupported: tuple[str, ...] = ()
    """The facts (normal form) that no source contains."""


class GroundingCheck:
    def __init__(self, sources: Iterable[str], *, question: str = "") -> None:
        text = "\n".join(sources)
        self._vocabulary = vocabulary(text)
        self._text = text.lower()
        self._question = set(tokens(question))

    def _supported_name(self, name: str) -> bool:
        return stem(name) in self._vocabulary or (len(name) >= 4 and name in self._text)

    def check(self, answer: str) -> GroundingResult:
        facts = extract_facts(answer)
        missing = sorted(
            [n for n in facts.numbers if n not in self._vocabulary]
            + [n for n in facts.names if not self._supported_name(n)]
        )
        if missing:
            return GroundingResult(False, tuple(missing))
        words = tokens(answer)
        if words and self._question:
            echoed = sum(w in self._question for w in words) / len(words)
            if echoed >= ECHO_SHARE and answer.rstrip().endswith("?"):
                return GroundingResult(False, ("<question read back>",))
        return GroundingResult(True)
