"""Tool connector configuration, argument checks and response shaping (no network)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from appliance.tools.http_connector import fill_url, keep_fields
from appliance.tools.schema import argument_problems
from appliance.tools.settings import ToolsSettings

SCHEMA = {
    "type": "object",
    "required": ["customer_number"],
    "properties": {
        "customer_number": {"type": "string", "pattern": "^[0-9]{6}$"},
        "count": {"type": "integer"},
        "kind": {"type": "string", "enum": ["claim", "order"]},
        "urgent": {"type": "boolean"},
    },
}


def test_connectors_may_only_point_at_allowlisted_hosts() -> None:
    connector = {"name": "crm", "description": "CRM", "url": "https://crm.example.org/api/x"}
    with pytest.raises(ValidationError, match=r"not in tools\.allowed_hosts"):
        ToolsSettings.model_validate({"allowed_hosts": ["crm.internal"], "connectors": [connector]})
    allowed = ToolsSettings.model_validate(
        {"allowed_hosts": ["crm.example.org"], "connectors": [connector]}
    )
    assert allowed.connectors[0].host == "crm.example.org"
    with pytest.raises(ValidationError, match=r"not in tools\.allowed_hosts"):
        ToolsSettings.model_validate(
            {"allowed_hosts": ["crm.example.org:8443"], "connectors": [connector]}
        )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"customer_number": "123456", "count": 2, "kind": "claim", "urgent": True}, None),
        ({}, "missing argument 'customer_number'"),
        ({"customer_number": "12345"}, "does not have the expected form"),
        ({"customer_number": "123456", "count": "2"}, "must be of type integer"),
        ({"customer_number": "123456", "count": True}, "must be of type integer"),
        ({"customer_number": "123456", "kind": "refund"}, "must be one of"),
        ({"customer_number": "123456", "extra": 1}, "unknown argument 'extra'"),
    ],
)
def test_argument_checks(arguments: dict[str, object], problem: str | None) -> None:
    problems = argument_problems(SCHEMA, arguments)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_url_templates_are_filled_encoded_and_the_rest_is_kept() -> None:
    url, rest = fill_url("http://crm/api/cases/{case}", {"case": "a/b c", "lang": "de"})
    assert url == "http://crm/api/cases/a%2Fb%20c"
    assert rest == {"lang": "de"}


def test_only_kept_fields_leave_the_connector() -> None:
    record = {"name": "E. M.", "dob": "1980-03-23", "address": {"city": "Buchholz", "street": "x"}}
    assert keep_fields(record, ("name", "address.city")) == {
        "name": "E. M.",
        "address.city": "Buchholz",
    }
    assert keep_fields([record], ("name",)) == [{"name": "E. M."}]
    assert keep_fields(record, ()) == record
