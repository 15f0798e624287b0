"""The demo back-end: a CRM, a calendar and a helpdesk of an invented clinic, over HTTP.

It is a separate Litestar app that ``appliance serve --demo`` and the tests
start on loopback, so the tools exercise a real HTTP service. The records are
invented. Three routes under ``/faults`` misbehave on purpose (slow, failing,
garbage) for the robustness tests and the demo of the agent's fallbacks.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from litestar import Litestar, MediaType, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody


@dataclass
class Customer:
    customer_number: str
    name: str
    date_of_birth: str  # ISO date
    postcode: str
    phone: str


@dataclass
class Appointment:
    appointment_id: str
    customer_number: str
    department: str
    date: str
    time: str


@dataclass
class Case:
    case_number: str
    customer_number: str
    kind: str
    status: str
    updated: str


@dataclass
class DemoData:
    customers: dict[str, Customer] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids)}"


def seed() -> DemoData:
    data = DemoData()
    for customer in (
        Customer("100234", "Erika Mustermann", "1980-03-23", "21271", "+49 4181 555 01"),
        Customer("100457", "John Smith", "1975-11-02", "21244", "+49 4181 555 02"),
        Customer("100890", "Aylin Demir", "1992-07-14", "21256", "+49 4181 555 03"),
    ):
        data.customers[customer.customer_number] = customer
    for appointment in (
        Appointment("A3001", "100234", "cardiology", "2026-12-03", "09:30"),
        Appointment("A3002", "100457", "radiology", "2026-12-07", "14:00"),
    ):
        data.appointments[appointment.appointment_id] = appointment
    for case in (
        Case("778812", "100234", "claim", "approved", "2026-11-18"),
        Case("778813", "100457", "claim", "in review", "2026-11-20"),
    ):
        data.cases[case.case_number] = case
    return data


def _data(state: State) -> DemoData:
    data: DemoData = state.demo
    return data


@post("/api/verify", status_code=200)
async def verify(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Answers the same shape whether or not the customer exists."""
    customer = _data(state).customers.get(str(data.get("customer_number", "")))
    ok = customer is not None and customer.date_of_birth == str(data.get("date_of_birth", ""))
    return {"verified": ok}


@get("/api/customers/{customer_number:str}")
async def customer(state: State, customer_number: FromPath[str]) -> dict[str, Any]:
    found = _data(state).customers.get(customer_number)
    if found is None:
        raise NotFoundException()
    return {k: v for k, v in asdict(found).items() if k != "date_of_birth"}


@get("/api/cases/{case_number:str}")
async def case(state: State, case_number: FromPath[str]) -> dict[str, Any]:
    found = _data(state).cases.get(case_number)
    if found is None:
        raise NotFoundException()
    return asdict(found)


@get("/api/appointments")
async def appointments(state: State, customer_number: FromQuery[str]) -> dict[str, Any]:
    mine = [asdict(a) for a in _data(state).appointments.values()]
    return {"appointments": [a for a in mine if a["customer_number"] == customer_number]}


@post("/api/appointments", status_code=201)
async def book(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    store = _data(state)
    if str(data.get("customer_number")) not in store.customers:
        raise NotFoundException()
    appointment = Appointment(
        store.next_id("A"),
        str(data["customer_number"]),
        str(data.get("department", "general")),
        str(data.get("date", "")),
        str(data.get("time", "")),
    )
    store.appointments[appointment.appointment_id] = appointment
    return asdict(appointment)


@post("/api/appointments/{appointment_id:str}/reschedule", status_code=200)
async def reschedule(
    state: State, appointment_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> dict[str, Any]:
    found = _data(state).appointments.get(appointment_id)
    if found is None:
        raise NotFoundException()
    found.date = str(data.get("date", found.date))
    found.time = str(data.get("time", found.time))
    return asdict(found)


@post("/api/tickets", status_code=201)
async def ticket(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    store = _data(state)
    created = {"ticket_id": store.next_id("T"), **data}
    store.tickets.append(created)
    return {"ticket_id": created["ticket_id"]}


@post("/api/callbacks", status_code=201)
async def callback(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    store = _data(state)
    created = {"callback_id": store.next_id("C"), **data}
    store.callbacks.append(created)
    return {
        "callback_id": created["callback_id"],
        "date": data.get("date"),
        "time": data.get("time"),
    }


@post("/api/handoffs", status_code=201)
async def receive_handoff(state: State, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """The contact centre's inbox for context packages (what a person sees on pickup)."""
    _data(state).handoffs.append(data)
    return {"received": data.get("call_id")}


@get("/api/handoffs")
async def list_handoffs(state: State) -> list[dict[str, Any]]:
    return _data(state).handoffs


@get("/faults/slow")
async def slow(seconds: FromQuery[float] = 10.0) -> dict[str, Any]:
    await asyncio.sleep(min(seconds, 60.0))
    return {"status": "late"}


@get("/faults/error", status_code=200)
async def error() -> Response[dict[str, str]]:
    return Response({"error": "database unavailable"}, status_code=500)


@get("/faults/garbage", media_type=MediaType.TEXT)
async def garbage() -> str:
    return "<html>Service Temporarily Unavailable</html>{{{"


def create_demo_backend(data: DemoData | None = None) -> Litestar:
    return Litestar(
        route_handlers=[
            verify,
            customer,
            case,
            appointments,
            book,
            reschedule,
            ticket,
            callback,
            receive_handoff,
            list_handoffs,
            slow,
            error,
            garbage,
        ],
        state=State({"demo": data or seed()}),
        openapi_config=None,
        logging_config=None,
    )
