"""The dialled number, from the request URI of an INVITE."""

from __future__ import annotations

import pytest

from appliance.telephony.sip.dialled import dialled_user


def invite(uri: str) -> str:
    return (
        f"INVITE {uri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds\r\n"
        "To: <sip:9999@pbx.example>\r\n"
        "From: <sip:+4930123@pbx.example>;tag=1928301774\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("sip:2300@10.0.0.9", "2300"),
        ("sip:2300@10.0.0.9:5070;transport=tcp", "2300"),
        ("sips:radiologie@appliance.klinikum.example", "radiologie"),
        ("sip:+494181923300;user=phone@10.0.0.9", "+494181923300"),
        ("sip:2300:secret@10.0.0.9", "2300"),
        ("sip:%2B4930@10.0.0.9", "+4930"),
        ("tel:+49-4181-92-3300;phone-context=example", "+494181923300"),
        ("sip:10.0.0.9:5060", ""),  # the bare contact: no number
        ("mailto:someone@example", ""),
    ],
)
def test_the_request_uri_user_is_the_dialled_number(uri: str, number: str) -> None:
    assert dialled_user(invite(uri)) == number


def test_garbage_gives_no_number() -> None:
    assert dialled_user("") == ""
    assert dialled_user("INVITE\r\n\r\n") == ""
    assert dialled_user("SIP/2.0 200 OK\r\n") == ""
    assert len(dialled_user(invite("sip:" + "9" * 500 + "@host"))) == 64
