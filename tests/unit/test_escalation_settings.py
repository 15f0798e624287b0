"""The configurable part: triggers on/off, complex topics, custom topics, config file/env."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.config import load_settings
from appliance.errors import ConfigError
from appliance.escalation import EscalationDetector, EscalationSettings


def test_defaults_enable_everything() -> None:
    settings = EscalationSettings()
    assert all(
        (
            settings.emergency,
            settings.human_request,
            settings.complex,
            settings.emotional,
            settings.repeated_failure,
        )
    )
    assert settings.enabled_topics() == ("complaint", "cancellation", "legal", "negotiation")


@pytest.mark.parametrize(
    ("switch", "text"),
    [
        ("emergency", "Mein Mann hat einen Herzinfarkt"),
        ("human_request", "Ich möchte mit einem Menschen sprechen"),
        ("complex", "Ich will meinen Vertrag kündigen"),
        ("emotional", "Das ist eine Frechheit, ich bin stinksauer"),
    ],
)
def test_each_trigger_can_be_switched_off(switch: str, text: str) -> None:
    on = EscalationDetector(EscalationSettings())
    off = EscalationDetector(EscalationSettings.model_validate({switch: False}))
    assert on.classify(text).label == switch
    assert off.classify(text).label == "none"


def test_complex_topics_list_selects_topics() -> None:
    detector = EscalationDetector(EscalationSettings(complex_topics=("legal",)))
    assert detector.classify("Ich schalte meinen Anwalt ein").label == "complex"
    assert detector.classify("Ich will mein Konto kündigen").label == "none"


def test_custom_topic_matches_inflections_and_compounds() -> None:
    settings = EscalationSettings(custom_topics={"dunning": ("mahnung", "inkasso büro")})
    detector = EscalationDetector(settings)
    result = detector.classify("Ich habe schon drei Mahnungen bekommen")
    assert result.label == "complex"
    assert result.topic == "dunning"
    assert detector.classify("Das Inkasso-Büro hat angerufen").topic == "dunning"
    assert EscalationDetector().classify("Ich habe drei Mahnungen bekommen").label == "none"


def test_unknown_topic_and_empty_custom_topic_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown complex topic"):
        EscalationSettings(complex_topics=("complaint", "weather"))
    with pytest.raises(ValidationError, match="at least one phrase"):
        EscalationSettings(custom_topics={"empty": ("  ",)})
    with pytest.raises(ValidationError, match="frozen"):
        EscalationSettings().emergency = False


def test_threshold_is_configurable() -> None:
    strict = EscalationDetector(EscalationSettings(threshold=0.95))
    assert strict.classify("Das ist eine Zumutung").label == "none"
    assert EscalationDetector().classify("Das ist eine Zumutung").label == "emotional"


def test_settings_load_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(
        '[escalation]\ncomplex_topics = ["legal", "dunning"]\nemotional = false\n'
        '[escalation.custom_topics]\ndunning = ["mahnung"]\n'
    )
    settings = load_settings(
        config,
        environ={"HOME": str(tmp_path), "APPLIANCE_ESCALATION__MAX_FAILED_ATTEMPTS": "3"},
    )
    assert settings.escalation.complex_topics == ("legal", "dunning")
    assert settings.escalation.custom_topics == {"dunning": ("mahnung",)}
    assert not settings.escalation.emotional
    assert settings.escalation.max_failed_attempts == 3


def test_bad_escalation_setting_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            environ={
                "HOME": str(tmp_path),
                "APPLIANCE_ESCALATION__COMPLEX_TOPICS": '["complaint", "gossip"]',
            }
        )
    assert "unknown complex topic" in str(caught.value)
