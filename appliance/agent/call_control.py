"""Tools the LLM gets besides the connectors: hand the caller to a person, end the call.

They act on the call itself, so the agent carries them out (no back-end): a
transfer goes the same way as a spoken request for a person (prompt, or the
callback offer when nobody is there, and the HandoffRequested event), ending
the call says goodbye first.
"""

from __future__ import annotations

from typing import Any

TRANSFER = "transfer_to_human"
END_CALL = "end_call"

CALL_CONTROL_TOOLS: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": TRANSFER,
            "description": "Connect the caller with a human colleague.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string", "maxLength": 200}},
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": END_CALL,
            "description": "End the call politely when the caller is done.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
)
NAMES = frozenset({TRANSFER, END_CALL})
