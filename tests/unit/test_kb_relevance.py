"""The calibrated "is this in the knowledge base" decision: its parts, with the
real USE embeddings (pure numpy, no model server) and examples of its own."""

from __future__ import annotations

import math

import pytest

from appliance.knowledge.embeddings import UseEmbeddings
from appliance.knowledge.relevance import (
    FEATURE_INTERCEPT,
    FEATURE_SLOPE,
    MIN_PROBABILITY,
    Relevance,
    RelevanceJudge,
    content_words,
    probability,
)
from appliance.knowledge.vocabulary import CollectionVocabulary
from appliance.knowledge.word_match import word_matches

LIBRARY = (
    "Stadtbibliothek Opening hours. The city library lends up to twenty books per card. "
    "Overdue books cost 50 cents per day."
)
SWIMMING = (
    "Das Hallenbad ist dienstags bis sonntags geöffnet. Der Eintritt für Kinder kostet 3 Euro."
)
SERVICE = "Den Hausmeisterdienst erreichen Sie werktags unter 0421 123 456."


def flat_idf(_: str) -> float:
    return 1.0


@pytest.fixture(scope="module")
def judge() -> RelevanceJudge:
    engine = UseEmbeddings(threads=1)
    engine.load()
    return RelevanceJudge(engine)


def test_content_words_drop_function_and_caller_words() -> None:
    words = content_words("Wann darf meine Mutter ins Hallenbad, und was kostet der Eintritt?")
    assert "hallenbad" in words
    assert "eintritt" in words
    assert "kostet" in words
    for dropped in ("wann", "darf", "meine", "mutter", "ins", "und", "was", "der"):
        assert dropped not in words
    assert content_words("How long do I have to wait for my father?") == ["wait"]


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("besuch", "besuchen"),  # inflection
        ("überziehe", "überziehungen"),
        ("pin", "pins"),
        ("bringen", "mitbringen"),  # a verb with a short prefix
    ],
)
def test_words_match_across_inflections(word: str, other: str) -> None:
    assert word_matches(word, [other])
    assert word_matches(other, [word])


@pytest.mark.parametrize(
    ("question_word", "passage_words"),
    [
        ("bus", ["buslinie"]),  # a general word starting a passage compound
        ("karte", ["ersatzkarte"]),  # ... or ending one
        ("kontoeröffnung", ["konto", "eröffnung"]),  # a compound with both parts there
        ("dispozinsen", ["dispo", "zinssatz"]),
        ("überweisungslimit", ["überweisungen", "limits"]),
    ],
)
def test_a_passage_holds_general_words_and_compounds_with_both_parts(
    question_word: str, passage_words: list[str]
) -> None:
    assert word_matches(question_word, passage_words)


@pytest.mark.parametrize(
    ("question_word", "passage_words"),
    [
        # A more specific compound is not covered by one of its parts alone.
        ("kontoeröffnung", ["eröffnung"]),
        ("auslandsüberweisung", ["überweisung"]),
        ("geburtsvorbereitungskurse", ["geburtsstation"]),
        ("krankenhausseelsorge", ["krankenhaus"]),
        ("rank", ["krankentransport"]),  # inside a word is no match
    ],
)
def test_a_more_specific_compound_needs_both_parts(
    question_word: str, passage_words: list[str]
) -> None:
    assert not word_matches(question_word, passage_words)


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("sauna", "hallenbad"),
        ("tag", "nacht"),
        ("eis", "reise"),  # a part shorter than four letters counts only at the start
    ],
)
def test_unrelated_words_do_not_match(word: str, other: str) -> None:
    assert not word_matches(word, [other])
    assert not word_matches(other, [word])


def test_probability_is_the_fitted_logistic() -> None:
    midpoint = -FEATURE_INTERCEPT / FEATURE_SLOPE
    assert 0.0 < midpoint < 1.0
    assert probability(midpoint) == pytest.approx(0.5)
    # The operating point: the feature at which the answer/refuse decision flips.
    cut = midpoint + math.log(MIN_PROBABILITY / (1 - MIN_PROBABILITY)) / FEATURE_SLOPE
    assert probability(cut) == pytest.approx(MIN_PROBABILITY)
    assert Relevance(cut + 0.01, 0.0, probability(cut + 0.01)).relevant
    assert not Relevance(cut - 0.01, 0.0, probability(cut - 0.01)).relevant
    assert probability(0.0) < probability(0.5) < probability(1.0)
    assert probability(1.0) == pytest.approx(1 / (1 + math.exp(-FEATURE_INTERCEPT - FEATURE_SLOPE)))
    assert Relevance(1.0, 0.0, probability(1.0)).relevant
    assert not Relevance(0.0, 0.0, probability(0.0)).relevant
    # Absence lowers the feature: the same coverage with words nothing resembles.
    assert Relevance(0.8, 0.3, 0.0).feature == pytest.approx(0.5)


def test_a_passage_holding_every_topic_word_covers_the_question(judge: RelevanceJudge) -> None:
    covered = judge.judge("Was kostet der Eintritt ins Hallenbad für Kinder?", SWIMMING, flat_idf)
    assert covered.coverage == pytest.approx(1.0)
    assert covered.relevant


def test_a_topic_the_passage_lacks_is_not_covered(judge: RelevanceJudge) -> None:
    on_topic = judge.coverage("Wie viel kostet der Eintritt für Kinder?", SWIMMING, flat_idf)
    off_topic = judge.coverage("Gibt es im Hallenbad eine Sauna mit Massage?", SWIMMING, flat_idf)
    assert off_topic < on_topic
    assert not judge.judge("Gibt es eine Sauna mit Massage?", SWIMMING, flat_idf).relevant


def test_rare_words_weigh_more_than_common_ones(judge: RelevanceJudge) -> None:
    question = "Kostet die Sauna Eintritt?"  # "sauna" is missing, "kostet"/"eintritt" are there

    def sauna_rare(stem: str) -> float:
        return 5.0 if stem == "sauna" else 1.0

    def sauna_common(stem: str) -> float:
        return 0.2 if stem == "sauna" else 1.0

    assert judge.coverage(question, SWIMMING, sauna_rare) < judge.coverage(
        question, SWIMMING, sauna_common
    )


def test_a_word_asking_for_a_kind_of_fact_is_covered_by_that_fact(judge: RelevanceJudge) -> None:
    # "Nummer" is not in the passage, but the passage states a phone number.
    assert judge.coverage("Welche Nummer hat der Hausmeisterdienst?", SERVICE, flat_idf) == (
        pytest.approx(1.0)
    )
    # Without a phone number the same word counts only by its embedding.
    no_number = SERVICE.replace("unter 0421 123 456", "im Erdgeschoss")
    assert judge.coverage("Welche Nummer hat der Hausmeisterdienst?", no_number, flat_idf) < 1.0


def test_a_question_of_function_words_only_is_not_refused(judge: RelevanceJudge) -> None:
    assert judge.coverage("Was ist das?", LIBRARY, flat_idf) == 1.0


def test_word_vectors_are_cached(judge: RelevanceJudge) -> None:
    judge.coverage("Do you have a reading room for students?", LIBRARY, flat_idf)
    cached = judge.cached_words
    judge.coverage("Do you have a reading room for students?", LIBRARY, flat_idf)
    assert cached > 0
    assert judge.cached_words == cached


def test_the_cache_is_bounded() -> None:
    engine = UseEmbeddings(threads=1)
    small = RelevanceJudge(engine, cache_words=5)
    small.coverage("Gibt es eine Sauna mit Massage und Solarium?", SWIMMING, flat_idf)
    assert small.cached_words <= 5


def test_a_word_nothing_in_the_collection_resembles_counts_as_absent(
    judge: RelevanceJudge,
) -> None:
    """The passage holds "Hallenbad" but not the topic word; whether the topic is
    absent is decided against the whole collection's vocabulary."""
    question = "Gibt es im Hallenbad eine Sauna?"
    collection = CollectionVocabulary(content_words(t) for t in (SWIMMING, LIBRARY, SERVICE))
    assert not collection.ready
    assert collection.nearest(judge.embedder.embed(["sauna"])) is None
    collection.build(judge.embedder)
    alone = judge.judge(question, SWIMMING, flat_idf, vocabulary=collection)
    assert alone.absence > 0.0
    # A collection holding "Sauna" somewhere: the word is not absent, only uncovered.
    sauna_too = CollectionVocabulary([*(content_words(t) for t in (SWIMMING, LIBRARY)), ["sauna"]])
    sauna_too.build(judge.embedder)
    present = judge.judge(question, SWIMMING, flat_idf, vocabulary=sauna_too)
    assert present.absence == pytest.approx(0.0, abs=1e-6)
    assert present.probability > alone.probability


def test_until_the_vocabulary_is_built_the_retrieved_passages_stand_in(
    judge: RelevanceJudge,
) -> None:
    question = "Gibt es im Hallenbad eine Sauna?"
    unbuilt = CollectionVocabulary([["sauna"]])
    without = judge.judge(question, SWIMMING, flat_idf, vocabulary=unbuilt)
    with_context = judge.judge(
        question, SWIMMING, flat_idf, vocabulary=unbuilt, context=["Die Sauna ist neu."]
    )
    assert with_context.absence == pytest.approx(0.0, abs=1e-6)
    assert without.absence > with_context.absence


def test_a_word_in_every_chunk_weighs_little_counting_its_compounds() -> None:
    chunks = [
        ["sparbank", "girokonto", "eröffnen"],
        ["sparbank", "karte", "sperren"],
        ["sparbank", "überweisung", "limit"],
        ["klinikum", "besuchszeiten"],
    ]
    vocabulary = CollectionVocabulary(chunks)
    assert vocabulary.chunks == 4
    # "bank" is no word of any chunk, but ends "sparbank" in three of four.
    assert vocabulary.idf("bank") < vocabulary.idf("karte") < vocabulary.idf("hypothek")
    assert vocabulary.idf("hypothek") == pytest.approx(math.log(1 + 4.5 / 0.5))
