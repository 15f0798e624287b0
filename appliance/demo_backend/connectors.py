"""The tool connectors for the demo back-end: the same configuration an operator
writes for their own systems, pointed at the demo's base URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from appliance.tools.settings import IdentitySettings, ToolConnector, ToolsSettings

CUSTOMER_NUMBER = {"type": "string", "pattern": "^[0-9]{6}$", "description": "six digits"}
DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "description": "YYYY-MM-DD"}
TIME = {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$", "description": "HH:MM, 24 h"}


def _schema(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def demo_tools(base_url: str) -> ToolsSettings:
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    connectors = [
        ToolConnector(
            name="verify_caller",
            description="Check the caller's customer number and date of birth.",
            parameters=_schema(
                ["customer_number", "date_of_birth"],
                customer_number=CUSTOMER_NUMBER,
                date_of_birth=DATE,
            ),
            method="POST",
            url=f"{base}/api/verify",
        ),
        ToolConnector(
            name="lookup_customer",
            description="The verified caller's contact details.",
            parameters=_schema(["customer_number"], customer_number=CUSTOMER_NUMBER),
            url=f"{base}/api/customers/{{customer_number}}",
            keep=("name", "postcode", "phone"),
            personal_data=True,
            say={
                "en": "We have {name}, postcode {postcode}, phone {phone}.",
                "de": "Wir haben {name}, Postleitzahl {postcode}, Telefon {phone}.",
            },
        ),
        ToolConnector(
            name="case_status",
            description="Status of the caller's claim or order by its case number.",
            parameters=_schema(
                ["case_number"], case_number={"type": "string", "pattern": "^[0-9]{6}$"}
            ),
            url=f"{base}/api/cases/{{case_number}}",
            keep=("kind", "status", "updated"),
            personal_data=True,
            say={
                "en": "Your {kind} is {status}, last updated on {updated}.",
                "de": "Ihr Vorgang ({kind}) ist {status}, zuletzt aktualisiert am {updated}.",
            },
        ),
        ToolConnector(
            name="list_appointments",
            description="The verified caller's appointments.",
            parameters=_schema(["customer_number"], customer_number=CUSTOMER_NUMBER),
            url=f"{base}/api/appointments",
            personal_data=True,
            say={
                "en": "Your next appointment is {appointments[0][date]} at "
                "{appointments[0][time]}, {appointments[0][department]}.",
                "de": "Ihr nächster Termin ist am {appointments[0][date]} um "
                "{appointments[0][time]} Uhr, {appointments[0][department]}.",
            },
        ),
        ToolConnector(
            name="book_appointment",
            description="Book an appointment for the verified caller.",
            parameters=_schema(
                ["customer_number", "date", "time"],
                customer_number=CUSTOMER_NUMBER,
                date=DATE,
                time=TIME,
                department={"type": "string", "maxLength": 64},
            ),
            method="POST",
            url=f"{base}/api/appointments",
            keep=("appointment_id", "date", "time", "department"),
            personal_data=True,
            say={
                "en": "You are booked for {date} at {time}.",
                "de": "Ihr Termin ist gebucht: {date} um {time} Uhr.",
            },
        ),
        ToolConnector(
            name="reschedule_appointment",
            description="Move one of the verified caller's appointments.",
            parameters=_schema(
                ["appointment_id", "date", "time"],
                appointment_id={"type": "string", "pattern": "^A[0-9]{4}$"},
                date=DATE,
                time=TIME,
            ),
            method="POST",
            url=f"{base}/api/appointments/{{appointment_id}}/reschedule",
            keep=("appointment_id", "date", "time"),
            personal_data=True,
            say={
                "en": "Your appointment is now on {date} at {time}.",
                "de": "Ihr Termin ist jetzt am {date} um {time} Uhr.",
            },
        ),
        ToolConnector(
            name="create_ticket",
            description="Open a helpdesk ticket about the caller's concern.",
            parameters=_schema(
                ["subject"],
                subject={"type": "string", "maxLength": 200},
                description={"type": "string", "maxLength": 2000},
            ),
            method="POST",
            url=f"{base}/api/tickets",
            say={
                "en": "I have opened ticket {ticket_id} for you.",
                "de": "Ich habe das Ticket {ticket_id} für Sie angelegt.",
            },
        ),
        ToolConnector(
            name="schedule_callback",
            description="Arrange for a person to call the caller back.",
            parameters=_schema(
                ["phone", "date", "time"],
                phone={"type": "string", "pattern": "^[+0-9 ]{6,20}$"},
                date=DATE,
                time=TIME,
                topic={"type": "string", "maxLength": 200},
            ),
            method="POST",
            url=f"{base}/api/callbacks",
            say={
                "en": "A colleague will call you back on {date} at {time}.",
                "de": "Eine Kollegin oder ein Kollege ruft Sie am {date} um {time} Uhr zurück.",
            },
        ),
    ]
    return ToolsSettings(
        allowed_hosts=(host,),
        connectors=tuple(connectors),
        identity=IdentitySettings(verify_tool="verify_caller"),
    )
