from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.errors import ConfigError, ErrorCode


def test_defaults_are_valid_and_embedded(tmp_path: Path) -> None:
    settings = load_settings(environ={"HOME": str(tmp_path)})
    assert settings.uses_embedded_llm
    assert settings.data_dir == tmp_path / ".local/share/voice-appliance"
    assert settings.stt_model_id() == "whisper-tiny.en"
    assert "AI assistant" in settings.agent.prompt("greeting")


def test_environment_overrides_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text('data_dir = "/srv/a"\n[llm]\nmodel = "from-file"\nmax_tokens = 50\n')
    settings = load_settings(
        config,
        environ={"APPLIANCE_LLM__MODEL": "from-env", "APPLIANCE_AGENT__LANGUAGE": "de"},
    )
    assert settings.data_dir == Path("/srv/a")
    assert settings.llm.model == "from-env"
    assert settings.llm.max_tokens == 50
    assert settings.stt_model_id() == "whisper-base"
    assert "KI-Assistenten" in settings.agent.prompt("greeting")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(environ={"HOME": str(tmp_path)})
    with pytest.raises(ValueError, match="frozen"):
        settings.llm.model = "other"


def test_errors_are_readable_and_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            environ={
                "HOME": str(tmp_path),
                "APPLIANCE_LLM__MAX_TOKENS": "lots",
                "APPLIANCE_TURN__SPECULATE_AFTER_MS": "900",
                "APPLIANCE_NOPE": "1",
            }
        )
    message = str(caught.value)
    assert caught.value.code is ErrorCode.CONFIG_INVALID
    assert "llm.max_tokens" in message
    assert "APPLIANCE_LLM__MAX_TOKENS" in message
    assert "speculate_after_ms must be shorter than end_of_turn_ms" in message
    assert "nope" in message


def test_broken_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_knowledge_routes_map_dialled_numbers_to_collections(tmp_path: Path) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(
        '[knowledge]\ncollection = "klinikum"\n'
        '[knowledge.routes]\n"2300" = "radiologie"\n"+494181923400" = "abrechnung"\n'
    )
    knowledge = load_settings(config, environ={"HOME": str(tmp_path)}).knowledge
    assert knowledge.collection_for("2300") == "radiologie"
    assert knowledge.collection_for("+494181923400") == "abrechnung"
    assert knowledge.collection_for("2301") == "klinikum"
    assert knowledge.collection_for("") == "klinikum"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ('"2300" = "../etc"', "'../etc' (for '2300') is not a collection name"),
        ('"23 00" = "radiologie"', "'23 00' is not a number or SIP user"),
    ],
)
def test_bad_knowledge_routes_are_named(tmp_path: Path, routes: str, message: str) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text(f"[knowledge.routes]\n{routes}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={"HOME": str(tmp_path)})
    assert message in str(caught.value)
