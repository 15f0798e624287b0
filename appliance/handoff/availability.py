"""Is a person there to take a transferred call right now?"""

from __future__ import annotations

import datetime as dt

from appliance.handoff.settings import DAYS, HandoffSettings


def human_available(settings: HandoffSettings, now: dt.datetime) -> bool:
    if settings.presence != "opening_hours":
        return settings.presence == "always"
    day = DAYS[now.weekday()]
    clock = now.strftime("%H:%M")
    for span in settings.opening_hours.get(day, ()):
        start, end = span.split("-")
        if start <= clock < end:
            return True
    return False
