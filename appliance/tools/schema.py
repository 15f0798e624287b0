"""Check tool arguments against the subset of JSON schema the connectors use.

LLM tool calls arrive as JSON text; they are parsed and checked before any
HTTP call is made: an unknown argument, a missing required one, a wrong type
or a value outside its enum or pattern is refused with a reason the agent can
act on (ask the caller again), never sent to a back-end.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def argument_problems(schema: dict[str, Any], arguments: object) -> list[str]:
    """What is wrong with ``arguments``; empty when they fit ``schema``."""
    if not isinstance(arguments, dict):
        return ["arguments must be a JSON object"]
    properties: dict[str, Any] = schema.get("properties", {})
    problems = [
        f"missing argument {name!r}" for name in schema.get("required", []) if name not in arguments
    ]
    for name, value in arguments.items():
        spec = properties.get(name)
        if spec is None:
            problems.append(f"unknown argument {name!r}")
            continue
        problems.extend(_value_problems(name, spec, value))
    return problems


def _value_problems(name: str, spec: dict[str, Any], value: object) -> list[str]:
    kind = spec.get("type")
    if kind in _TYPES:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in {"integer", "number"} and isinstance(value, bool)
        )
        if not ok:
            return [f"argument {name!r} must be of type {kind}"]
    if "enum" in spec and value not in spec["enum"]:
        return [f"argument {name!r} must be one of {spec['enum']}"]
    pattern = spec.get("pattern")
    if pattern is not None and isinstance(value, str) and re.search(pattern, value) is None:
        return [f"argument {name!r} does not have the expected form"]
    max_length = spec.get("maxLength")
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        return [f"argument {name!r} is longer than {max_length} characters"]
    return []
