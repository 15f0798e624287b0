"""The linear backstop: features, deterministic training, when the detector may use it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.escalation import EscalationDetector, EscalationSettings, Label
from appliance.escalation.linear import MODEL_PATH, LinearModel, features, load_default, train

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "escalation_dev.jsonl"

# A toy corpus whose words the lexicon does not know: only the model can label them.
TOY: list[tuple[str, Label]] = [
    ("blorp zingel quax", "emergency"),
    ("zingel blorp", "emergency"),
    ("quax zingel blorp now", "emergency"),
    ("wibble frotz", "emotional"),
    ("frotz wibble again", "emotional"),
    ("plain ordinary words", "none"),
    ("ordinary plain question", "none"),
    ("some plain ordinary text", "none"),
]


@pytest.fixture(scope="module")
def toy_model() -> LinearModel:
    return train([t for t, _ in TOY], [label for _, label in TOY], epochs=200)


def test_features_are_normalised_and_fold_spelling_variants() -> None:
    a, b = features("Kündigung"), features("Kuendigung")
    assert a == b
    assert sum(v * v for v in a.values()) == pytest.approx(1.0)
    assert features("") == {}


def test_training_is_deterministic_and_fits_its_data(toy_model: LinearModel) -> None:
    again = train([t for t, _ in TOY], [label for _, label in TOY], epochs=200)
    assert np.array_equal(toy_model.weights, again.weights)
    for text, label in TOY:
        probs = toy_model.probabilities(text)
        assert max(probs, key=lambda k: probs[k]) == label
        assert sum(probs.values()) == pytest.approx(1.0)


def test_save_and_load_round_trip(toy_model: LinearModel, tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    toy_model.save(path)
    loaded = LinearModel.load(path)
    assert loaded.probabilities("blorp zingel") == pytest.approx(
        toy_model.probabilities("blorp zingel")
    )


def test_backstop_names_a_label_when_no_rule_fires(toy_model: LinearModel) -> None:
    result = EscalationDetector(model=toy_model).classify("zingel quax blorp")
    assert result.label == "emergency"
    assert result.reason.startswith("emergency: model p=")
    assert result.hits == ()


def test_backstop_respects_threshold_switches_and_rules(toy_model: LinearModel) -> None:
    off = EscalationDetector(EscalationSettings(model_backstop=False), model=toy_model)
    assert off.classify("zingel quax blorp").label == "none"
    strict = EscalationDetector(EscalationSettings(model_threshold=0.999), model=toy_model)
    assert strict.classify("zingel quax blorp").label == "none"
    no_emergency = EscalationDetector(EscalationSettings(emergency=False), model=toy_model)
    assert no_emergency.classify("zingel quax blorp").label == "none"
    detector = EscalationDetector(model=toy_model)
    # A negated cue means the caller said what they do not want: the model stays out.
    assert detector.classify("zingel blorp, kein Notfall").label == "none"
    # A rule that fires wins over the model.
    assert detector.classify("wibble frotz, Herzinfarkt").label == "emergency"


def test_shipped_model_loads_and_agrees_with_the_dev_set() -> None:
    assert MODEL_PATH.exists()
    model = load_default()
    assert model is not None
    rows = [json.loads(line) for line in DEV_SET.read_text("utf-8").splitlines() if line]
    agree = 0
    for row in rows:
        probs = model.probabilities(row["text"])
        agree += max(probs, key=lambda k: probs[k]) == row["label"]
    # Trained on this file; far below this the file is stale or corrupt.
    assert agree / len(rows) >= 0.85
