"""Which sentences the extractive answer speaks, and what a question asks for."""

from __future__ import annotations

from appliance.agent.answer_type import cue_kinds, states_wanted, wanted_types
from appliance.agent.extractive import (
    EXTRA_SENTENCES,
    NEIGHBOUR_BONUS,
    SENTENCES,
    SHORT_ANSWER_WORDS,
    Sentence,
    pick,
    sentences_of,
)


def sentence(passage: int, position: int) -> Sentence:
    """A sentence long enough that no third one fits in a short answer."""
    return Sentence(f"Satz {passage}.{position} " + "lang " * 20, passage, position)


def test_the_best_sentence_comes_with_its_neighbour_over_a_slightly_better_stranger() -> None:
    candidates = [sentence(0, 0), sentence(0, 1), sentence(1, 0)]
    # The stranger (another passage) scores a little higher than the neighbour.
    scores = [0.9, 0.5, 0.5 + NEIGHBOUR_BONUS / 2]
    assert SENTENCES == 2
    assert pick(candidates, scores) == [0, 1]


def test_a_clearly_better_sentence_elsewhere_still_wins() -> None:
    candidates = [sentence(0, 0), sentence(0, 1), sentence(1, 0)]
    scores = [0.9, 0.2, 0.2 + 2 * NEIGHBOUR_BONUS]
    assert pick(candidates, scores) == [0, 2]


def test_a_passage_of_one_sentence_takes_the_next_best_elsewhere() -> None:
    candidates = [sentence(0, 0), sentence(1, 0), sentence(2, 0)]
    assert pick(candidates, [0.3, 0.8, 0.5]) == [1, 2]
    assert pick([], []) == []


def test_sentences_of_drop_markup_and_empty_lines() -> None:
    found = sentences_of(["# Titel\n\n- **Erstens** kommt dies.\n- Zweitens das.", "123"])
    texts = [s.text for s in found]
    assert "Erstens kommt dies." in texts
    assert all("*" not in t and "#" not in t for t in texts)
    assert all(s.passage == 0 for s in found)  # "123" has no letters: nothing to say


def test_open_is_a_time_question_only_with_a_time() -> None:
    assert wanted_types("Can I open a savings account online?") == frozenset()
    assert wanted_types("Are you open on Sunday?") == {"time"}
    assert wanted_types("What are your opening hours?") == {"time"}
    assert wanted_types("Hat die Bücherei montags geöffnet?") == {"time"}


def test_single_words_name_the_fact_they_ask_for() -> None:
    assert cue_kinds("nummer") == {"phone"}
    assert cue_kinds("kostet") == {"amount"}
    assert cue_kinds("bücherei") == frozenset()
    assert states_wanted("Rufen Sie 0421 98 76 54 an.", cue_kinds("telefonnummer"))
    assert not states_wanted("Rufen Sie uns an.", cue_kinds("telefonnummer"))


def _words(passage: int, position: int, count: int) -> Sentence:
    return Sentence(" ".join(["Wort"] * count), passage, position)


def test_a_short_third_sentence_is_added_while_the_answer_stays_short() -> None:
    scores = [0.9, 0.6, 0.5, 0.1]
    short = [_words(0, 0, 10), _words(0, 1, 10), _words(1, 0, 10), _words(1, 1, 10)]
    assert pick(short, scores) == [0, 1, 2]
    assert SENTENCES + EXTRA_SENTENCES == 3  # never a fourth
    long_third = [_words(0, 0, 10), _words(0, 1, 10), _words(1, 0, SHORT_ANSWER_WORDS - 19)]
    assert pick(long_third, scores[:3]) == [0, 1]
    exactly = [_words(0, 0, 10), _words(0, 1, 10), _words(1, 0, SHORT_ANSWER_WORDS - 20)]
    assert pick(exactly, scores[:3]) == [0, 1, 2]
