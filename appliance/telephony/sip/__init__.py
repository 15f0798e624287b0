"""SIP on pjsua2: the appliance as a PBX extension or trunk peer.

``settings`` (the ``[sip]`` section) imports nothing from pjsua2, so the
configuration loads without the library; the other modules need it.
"""

from appliance.telephony.sip.settings import PJSUA_MAX_CALLS, SipSettings

__all__ = ["PJSUA_MAX_CALLS", "SipSettings"]
