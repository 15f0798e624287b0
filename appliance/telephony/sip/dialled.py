"""Which number a call was made to: the user part of the INVITE's request URI.

A PBX or SIP trunk that hands several numbers to the appliance addresses each
INVITE to the number dialled (``INVITE sip:2300@appliance SIP/2.0``); the
appliance uses it to pick the knowledge base that answers
(``knowledge.routes``). ``tel:`` URIs give their number without visual
separators; a URI without a user part (a call to the bare contact) gives "".
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_REQUEST_LINE = re.compile(r"^[A-Za-z]+\s+(\S+)\s+SIP/2\.0\s*$")
_VISUAL_SEPARATORS = re.compile(r"[-.()]")
_MAX_LENGTH = 64


def dialled_user(message: str) -> str:
    """The user part of the request URI of ``message`` (a whole SIP request)."""
    first_line = message.split("\n", 1)[0].rstrip("\r")
    match = _REQUEST_LINE.match(first_line)
    if match is None:
        return ""
    uri = match.group(1)
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "tel":
        number = rest.split(";", 1)[0]
        return _VISUAL_SEPARATORS.sub("", unquote(number))[:_MAX_LENGTH]
    if scheme not in ("sip", "sips") or "@" not in rest:
        return ""
    user = rest.split("@", 1)[0]
    user = user.split(":", 1)[0]  # a password, if any, is never kept
    user = user.split(";", 1)[0]  # telephone-subscriber parameters
    return unquote(user)[:_MAX_LENGTH]
