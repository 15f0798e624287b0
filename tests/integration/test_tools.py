"""Tool calls against the demo back-end over real HTTP: identity, arguments, faults."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from appliance.demo_backend.app import create_demo_backend
from appliance.demo_backend.connectors import demo_tools
from appliance.errors import ErrorCode
from appliance.tools.identity import CallerIdentity
from appliance.tools.registry import ToolRegistry
from appliance.tools.settings import ToolConnector, ToolsSettings
from tests.support.app_server import serve_asgi
from tests.unit.test_llm_client_faults import unlistened_port

pytestmark = pytest.mark.asyncio

ERIKA = {"customer_number": "100234", "date_of_birth": "1980-03-23"}


@pytest_asyncio.fixture
async def backend() -> AsyncIterator[str]:
    async with serve_asgi(create_demo_backend()) as base:
        yield base


@pytest_asyncio.fixture
async def tools(backend: str) -> AsyncIterator[ToolRegistry]:
    registry = ToolRegistry(demo_tools(backend))
    yield registry
    await registry.aclose()


async def test_the_llm_sees_every_connector_as_an_openai_tool(tools: ToolRegistry) -> None:
    declared = {t["function"]["name"]: t["function"] for t in tools.openai_tools()}
    assert {"verify_caller", "lookup_customer", "case_status", "book_appointment"} <= set(declared)
    assert declared["case_status"]["parameters"]["required"] == ["case_number"]


async def test_personal_data_only_after_verification_and_only_the_callers_own(
    tools: ToolRegistry,
) -> None:
    identity = CallerIdentity()
    early = await tools.call("lookup_customer", {"customer_number": "100234"}, identity)
    assert early.code == ErrorCode.IDENTITY_REQUIRED
    assert early.data is None

    wrong_birthday = await tools.call(
        "verify_caller", {**ERIKA, "date_of_birth": "1980-03-24"}, identity
    )
    nobody = await tools.call(
        "verify_caller", {"customer_number": "999999", "date_of_birth": "1980-03-23"}, identity
    )
    # An unknown customer and a wrong date of birth are indistinguishable.
    assert (
        wrong_birthday.ok,
        wrong_birthday.code,
        wrong_birthday.message,
        wrong_birthday.data,
    ) == (
        nobody.ok,
        nobody.code,
        nobody.message,
        nobody.data,
    )
    assert nobody.code == ErrorCode.IDENTITY_NOT_VERIFIED
    assert not identity.verified

    verified = await tools.call("verify_caller", ERIKA, identity)
    assert verified.ok
    assert identity == CallerIdentity(verified=True, customer_number="100234", attempts=2)

    mine = await tools.call("lookup_customer", {"customer_number": "100234"}, identity)
    assert mine.ok
    assert mine.data == {
        "name": "Erika Mustermann",
        "postcode": "21271",
        "phone": "+49 4181 555 01",
    }

    someone_else = await tools.call("lookup_customer", {"customer_number": "100457"}, identity)
    assert someone_else.code == ErrorCode.IDENTITY_MISMATCH
    assert someone_else.data is None
    # A case number is no way around it: the record names its owner.
    other_case = await tools.call("case_status", {"case_number": "778813"}, identity)
    assert other_case.code == ErrorCode.IDENTITY_MISMATCH
    assert other_case.data is None
    own_case = await tools.call("case_status", {"case_number": "778812"}, identity)
    assert own_case.data == {"kind": "claim", "status": "approved", "updated": "2026-11-18"}


async def test_verification_attempts_are_limited(tools: ToolRegistry) -> None:
    identity = CallerIdentity()
    for _ in range(3):
        await tools.call("verify_caller", {**ERIKA, "date_of_birth": "2000-01-01"}, identity)
    blocked = await tools.call("verify_caller", ERIKA, identity)
    assert blocked.code == ErrorCode.IDENTITY_NOT_VERIFIED
    assert not identity.verified


async def test_booking_rescheduling_tickets_and_callbacks(tools: ToolRegistry) -> None:
    identity = CallerIdentity()
    await tools.call("verify_caller", ERIKA, identity)
    booked = await tools.call(
        "book_appointment",
        {"customer_number": "100234", "date": "2026-12-10", "time": "10:15", "department": "ENT"},
        identity,
    )
    assert booked.ok
    moved = await tools.call(
        "reschedule_appointment",
        {"appointment_id": booked.data["appointment_id"], "date": "2026-12-11", "time": "08:00"},
        identity,
    )
    assert moved.data == {
        "appointment_id": booked.data["appointment_id"],
        "date": "2026-12-11",
        "time": "08:00",
    }
    listed = await tools.call("list_appointments", {"customer_number": "100234"}, identity)
    dates = {a["date"] for a in listed.data["appointments"]}
    assert dates == {"2026-12-03", "2026-12-11"}
    ticket = await tools.call("create_ticket", {"subject": "Invoice question"}, identity)
    assert ticket.ok
    assert ticket.data["ticket_id"].startswith("T")
    callback = await tools.call(
        "schedule_callback",
        {"phone": "+49 4181 555 01", "date": "2026-11-24", "time": "10:00"},
        identity,
    )
    assert callback.ok
    assert callback.data["time"] == "10:00"


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("transfer_money", {}, ErrorCode.TOOL_UNKNOWN),
        ("case_status", "{not json", ErrorCode.TOOL_BAD_ARGUMENTS),
        ("case_status", "[1, 2]", ErrorCode.TOOL_BAD_ARGUMENTS),
        ("case_status", {}, ErrorCode.TOOL_BAD_ARGUMENTS),
        ("case_status", {"case_number": "77881"}, ErrorCode.TOOL_BAD_ARGUMENTS),
        ("case_status", {"case_number": 778812}, ErrorCode.TOOL_BAD_ARGUMENTS),
        ("case_status", {"case_number": "778812", "sql": "1=1"}, ErrorCode.TOOL_BAD_ARGUMENTS),
    ],
)
async def test_unknown_tools_and_invalid_arguments_are_refused_before_any_call(
    tools: ToolRegistry, name: str, arguments: str | dict[str, Any], code: ErrorCode
) -> None:
    result = await tools.call(name, arguments, CallerIdentity())
    assert not result.ok
    assert result.code == code
    assert result.status is None  # no back-end was asked


def fault_tools(backend: str, path: str, timeout_s: float = 3.0) -> ToolRegistry:
    return ToolRegistry(
        ToolsSettings(
            allowed_hosts=("127.0.0.1",),
            connectors=(
                ToolConnector(
                    name="flaky", description="misbehaves", url=backend + path, timeout_s=timeout_s
                ),
            ),
        )
    )


@pytest.mark.parametrize(
    ("path", "code", "status"),
    [
        ("/faults/error", ErrorCode.TOOL_FAILED, 500),
        ("/faults/garbage", ErrorCode.TOOL_BAD_RESPONSE, 200),
        ("/api/cases/000000", ErrorCode.TOOL_REJECTED, 404),
    ],
)
async def test_back_end_failures_become_coded_results(
    backend: str, path: str, code: ErrorCode, status: int
) -> None:
    registry = fault_tools(backend, path)
    try:
        result = await registry.call("flaky", {}, CallerIdentity())
    finally:
        await registry.aclose()
    assert (result.ok, result.code, result.status) == (False, code, status)


async def test_a_slow_back_end_times_out_on_time(backend: str) -> None:
    registry = fault_tools(backend, "/faults/slow?seconds=10", timeout_s=0.5)
    started = time.monotonic()
    try:
        result = await registry.call("flaky", {}, CallerIdentity())
    finally:
        await registry.aclose()
    assert result.code == ErrorCode.TOOL_TIMEOUT
    assert time.monotonic() - started < 3


async def test_an_unreachable_back_end_is_unavailable() -> None:
    with unlistened_port() as sock:
        registry = fault_tools(f"http://127.0.0.1:{sock.getsockname()[1]}", "/api/cases/1")
        try:
            result = await registry.call("flaky", {}, CallerIdentity())
        finally:
            await registry.aclose()
    assert result.code == ErrorCode.TOOL_UNAVAILABLE
