"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from appliance.telephony.sip.service import SipService


@pytest_asyncio.fixture
async def services() -> AsyncIterator[list[SipService]]:
    """SIP services a test starts are stopped (and their endpoint destroyed) afterwards."""
    started: list[SipService] = []
    yield started
    for service in started:
        await service.stop()
