import pytest

from appliance.agent.backchannel import is_backchannel


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Mhm.", "en"),
        ("Okay.", "en"),
        ("Yeah, right.", "en"),
        ("Ja.", "de"),
        ("Genau!", "de"),
        ("Ach so.", "de"),
        ("", "de"),
        ("(coughs)", "en"),
        ("[cough]", "en"),
        (" ... ", "en"),
    ],
)
def test_acknowledgements_and_noise_are_backchannels(text: str, language: str) -> None:
    assert is_backchannel(text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Stop, I need a person.", "en"),
        ("No, that is wrong.", "en"),
        ("Ja, aber wann ist die Sprechstunde?", "de"),
        ("Okay okay okay okay", "en"),
    ],
)
def test_real_turns_are_not_backchannels(text: str, language: str) -> None:
    assert not is_backchannel(text, language)
