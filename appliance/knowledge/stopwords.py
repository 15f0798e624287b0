"""Stop words shared by language detection and keyword scoring."""

from __future__ import annotations

# Frequent German function words: they tell German text from English.
GERMAN = frozenset(
    [
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "mit",
        "für",
        "sie",
        "ich",
        "wir",
        "auf",
        "ein",
        "eine",
        "dem",
        "den",
        "zu",
        "von",
        "bei",
    ]
)

# Frequent English function words.
ENGLISH = frozenset(
    [
        "the",
        "and",
        "is",
        "are",
        "not",
        "with",
        "for",
        "you",
        "we",
        "on",
        "a",
        "an",
        "to",
        "of",
        "at",
        "in",
        "your",
        "can",
    ]
)

# Words callers use in every question: no signal for keyword matching.
QUESTION_WORDS = frozenset(
    [
        "sind",
        "einen",
        "des",
        "wie",
        "was",
        "wer",
        "kann",
        "können",
        "muss",
        "mein",
        "meine",
        "meinen",
        "ihr",
        "ihre",
        "ihnen",
        "gibt",
        "es",
        "bitte",
        "noch",
        "auch",
        "how",
        "what",
        "who",
        "does",
        "have",
        "there",
        "this",
        "that",
        "from",
        "which",
        "when",
        "where",
        "will",
        "would",
    ]
)
