"""Keep Python exceptions inside pjsua2 callbacks.

pjsua2 calls Python through SWIG directors; an exception escaping a callback
becomes a C++ exception nobody catches on a pjsip thread, and the process
aborts. Every callback the appliance implements is wrapped here: the error is
logged with a stable code and the call goes on (or ends) under pjsua's control.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec

from appliance.errors import ErrorCode

P = ParamSpec("P")
log = logging.getLogger(__name__)


def pj_callback(method: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception:  # escaping into pjsua2 would abort the process
            log.exception(
                "sip callback failed",
                extra={"callback": method.__qualname__, "code": ErrorCode.SIP_CALL_FAILED.value},
            )

    return guarded
