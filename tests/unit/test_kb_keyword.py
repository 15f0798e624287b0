"""The keyword side of hybrid retrieval: BM25 over prefix tokens."""

from __future__ import annotations

from appliance.knowledge.keyword import Bm25

CHUNKS = [
    "Die Buslinien 5 und 17 halten an der Haltestelle vor dem Klinikum.",
    "Das Parkhaus liegt gegenüber dem Haupteingang; die erste halbe Stunde ist frei.",
    "Die Entlassung findet vormittags bis 11 Uhr statt.",
]


def test_the_chunk_holding_the_query_words_scores_highest() -> None:
    scores = Bm25(CHUNKS).scores("Wo ist das Parkhaus?")
    assert max(scores, key=lambda i: scores[i]) == 1


def test_a_short_word_finds_the_compounds_it_starts() -> None:
    # "Bus" is in no chunk as a word of its own; "Buslinien" starts with it.
    scores = Bm25(CHUNKS).scores("Welcher Bus fährt dahin?")
    assert set(scores) == {0}
    assert scores[0] > 0.0


def test_a_query_word_no_chunk_holds_lowers_every_score() -> None:
    index = Bm25(CHUNKS)
    plain = index.scores("Parkhaus")[1]
    with_unknown = index.scores("Parkhaus Cafeteria")[1]
    assert 0.0 < with_unknown < plain <= 1.0


def test_no_shared_word_no_score() -> None:
    assert Bm25(CHUNKS).scores("Cafeteria Restaurant") == {}
