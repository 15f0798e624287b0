"""Which ACKs the endpoint's ACK guard keeps away from pjsip (see ack_guard)."""

from __future__ import annotations

import pytest

from appliance.telephony.sip.ack_guard import ack_lacks_to_tag


def message(start_line: str, *headers: str) -> bytes:
    return ("\r\n".join((start_line, *headers)) + "\r\n\r\n").encode()


ACK = "ACK sip:appliance@192.0.2.1:5060 SIP/2.0"
VIA = "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx1"


@pytest.mark.parametrize(
    ("raw", "dropped"),
    [
        pytest.param(message(ACK, VIA, "To: <sip:appliance@192.0.2.1>"), True, id="no-tag"),
        pytest.param(message(ACK, VIA, "t: sip:appliance@192.0.2.1"), True, id="compact-no-tag"),
        pytest.param(
            message(ACK, VIA, "To: <sip:appliance@192.0.2.1>;tag=a1b2"), False, id="tagged"
        ),
        pytest.param(
            message(ACK, VIA, "tO  : <sip:appliance@192.0.2.1>", "  ; TAG = a1b2"),
            False,
            id="folded-odd-case-tag",
        ),
        pytest.param(
            message(ACK, VIA, "To: <sip:appliance@192.0.2.1;tag=in-uri>"),
            True,
            id="a-uri-parameter-is-no-tag",
        ),
        pytest.param(
            message(ACK, VIA, 'To: "a;tag=no" <sip:appliance@192.0.2.1>'),
            True,
            id="a-display-name-is-no-tag",
        ),
        pytest.param(message(ACK, VIA, "To: <sip:appliance@192.0.2.1>;tag="), True, id="empty-tag"),
        pytest.param(message(ACK, VIA), False, id="no-to-header-left-to-pjsip"),
        pytest.param(
            message("BYE sip:appliance@192.0.2.1 SIP/2.0", VIA, "To: <sip:a@192.0.2.1>"),
            False,
            id="not-an-ack",
        ),
    ],
)
def test_only_acks_without_a_to_tag_are_dropped(raw: bytes, dropped: bool) -> None:
    assert ack_lacks_to_tag(raw) is dropped
