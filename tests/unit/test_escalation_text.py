"""Folding: one spelling for umlauts, their ASCII forms and ASR's umlaut-less words."""

from __future__ import annotations

import pytest

from appliance.escalation.text import clause_bounds, fold, fold_pattern


@pytest.mark.parametrize(
    ("variants", "folded"),
    [
        (("Kündigung", "Kuendigung", "Kundigung", "KÜNDIGUNG"), "kundigung"),
        (("Überdosis", "Ueberdosis", "Uberdosis"), "uberdosis"),
        (("Straße", "Strasse"), "strasse"),
        (("don't", "dont", "don\u2019t"), "dont"),
        (("Brust-Schmerzen", "Brust  Schmerzen"), "brust schmerzen"),
    ],
)
def test_spelling_variants_fold_together(variants: tuple[str, ...], folded: str) -> None:
    assert {fold(v) for v in variants} == {folded}


def test_pattern_escapes_survive_folding() -> None:
    assert fold_pattern(r"\bmüde\w*\s") == r"\bmude\w*\s"


def test_clause_bounds_stop_at_punctuation_and_conjunctions() -> None:
    text = "kein fieber, aber brustschmerzen und husten"
    start = text.index("brustschmerzen")
    left, right = clause_bounds(text, start, start + len("brustschmerzen"))
    assert text[left:right].strip() == "brustschmerzen"
