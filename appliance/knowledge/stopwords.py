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

# Frequent function words of languages the appliance does not serve: a document
# in one of them is refused at ingestion unless configured (expected_languages).
OTHER_LANGUAGES = {
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "des",
            "est",
            "et",
            "une",
            "pour",
            "dans",
            "que",
            "qui",
            "pas",
            "sur",
            "avec",
            "vous",
            "nous",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "los",
            "las",
            "del",
            "es",
            "y",
            "una",
            "para",
            "en",
            "que",
            "por",
            "con",
            "usted",
            "no",
            "su",
            "como",
        ]
    ),
    "it": frozenset(
        [
            "il",
            "lo",
            "gli",
            "della",
            "è",
            "e",
            "una",
            "per",
            "che",
            "non",
            "con",
            "sono",
            "alla",
            "del",
            "come",
        ]
    ),
    "nl": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "is",
            "van",
            "voor",
            "niet",
            "met",
            "zijn",
            "op",
            "ook",
            "dat",
            "er",
            "u",
        ]
    ),
    "pl": frozenset(
        ["i", "w", "na", "nie", "się", "jest", "z", "do", "że", "to", "jak", "dla", "od", "po"]
    ),
    "tr": frozenset(
        ["ve", "bir", "bu", "için", "ile", "da", "de", "mi", "olarak", "çok", "daha", "gibi", "ama"]
    ),
}
