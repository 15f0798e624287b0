"""Attended transfer: a consultation call to the human agent, then REFER with Replaces.

The appliance calls the transfer target itself (the case reference in a header,
as in a blind transfer's REFER). Once the person answers, the caller is sent a
REFER whose Refer-To carries ``Replaces`` for that consultation dialog
(``Call.xferReplaces``): the caller's UA calls the person, its INVITE replaces
the consultation call, and the appliance leaves both dialogs. If the person is
busy, declines or does not answer in time, the caller stays with the agent.
Everything here runs on the SIP thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import pjsua2 as pj

from appliance.telephony.sip.guard import pj_callback

if TYPE_CHECKING:
    from appliance.telephony.sip.account import ApplianceAccount


class ConsultOwner(Protocol):
    def consult_answered(self, consult: ConsultCall) -> None: ...

    def consult_ended(self, consult: ConsultCall, status: int, reason: str) -> None: ...


class ConsultCall(pj.Call):  # type: ignore[misc]  # pjsua2 has no stubs
    """The appliance's call to the human agent on behalf of one caller."""

    def __init__(
        self,
        owner: ConsultOwner,
        account: ApplianceAccount,
        *,
        call_id: str,
        reference: str,
        deadline: float,
    ) -> None:
        super().__init__(account)
        self.owner = owner
        self.call_id = call_id  # the caller's call this consultation is for
        self.reference = reference
        self.deadline = deadline  # monotonic: give up unless answered by then
        self.answered = False
        self.referred = False  # the caller was sent the REFER with Replaces
        self.disconnected = False
        self.timed_out = False  # the appliance gave up waiting for an answer
        self.started = time.monotonic()

    @pj_callback
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802  # pjsua2 API name
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.owner.consult_answered(self)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            self.owner.consult_ended(self, int(info.lastStatusCode), str(info.lastReason))
