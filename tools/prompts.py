"""Prompts that chain the tools for the two most common support questions."""

from __future__ import annotations

import re
from typing import Annotated

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import Field

from tools.views import UNTRUSTED_NOTE

# Prompt arguments arrive as strings; a bad one is the client's to fix, so it is an invalid-params error that says
# what is allowed, never a crash.
CaseNumberText = Annotated[str | None, Field(description="The case number, e.g. 48213.")]


def _case_number(prompt: str, value: str | None, *, required: bool) -> int | None:
    if value is None or not value.strip():
        if required:
            raise MCPError(code=INVALID_PARAMS, message=f"{prompt} needs case_number, e.g. 48213.")
        return None
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,16}", text) or int(text) == 0:
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"{prompt} takes case_number as a positive number in digits, e.g. 48213; got {text[:40]!r}.",
        )
    return int(text)


def summarize_case(case_number: CaseNumberText = None) -> str:
    """Summarize a Sprinklr case: what it is about, where it stands, what the customer said last."""
    number = _case_number("summarize_case", case_number, required=True)
    return (
        f"Summarize Sprinklr case {number} for a support agent.\n"
        f"1. Call get_case with case_number={number} and activity=true.\n"
        f"2. Call get_case_messages with case_number={number}, order='newest_first', limit=10.\n"
        "Then answer in at most eight lines: what the case is about, its status, priority and owner, what the "
        "customer said last and when, and what the brand promised, if anything. Quote the customer sparingly.\n"
        f"{UNTRUSTED_NOTE}"
    )


def customer_history(
    email: Annotated[str | None, Field(description="The customer's email, if known.")] = None,
    case_number: Annotated[str | None, Field(description="A case of the customer, if the email is not known.")] = None,
) -> str:
    """Everything Sprinklr knows about one customer: their profile and their cases, newest first."""
    number = _case_number("customer_history", case_number, required=False)
    if email is not None and not re.fullmatch(r"[^@\s\"'<>]{1,200}@[^@\s\"'<>]{1,200}\.[A-Za-z]{2,}", email.strip()):
        raise MCPError(
            code=INVALID_PARAMS,
            message=f"customer_history takes email as an address, e.g. a@example.com; got {email[:60]!r}.",
        )
    if email:
        first = f"Call lookup_profile with email={email.strip()!r} and cases=10."
    elif number:
        first = (
            f"Call get_case with case_number={number}; then call lookup_profile with the customer's "
            "channel_id (and channel) and cases=10."
        )
    else:
        first = "Ask the user for the customer's email or one of their case numbers, then use lookup_profile."
    return (
        f"Give the history of a Sprinklr customer.\n1. {first}\n"
        "2. For the two most recent open cases, call get_case_messages with order='newest_first', limit=5.\n"
        "Then list the cases (number, subject, status, date) and say what is still unresolved.\n"
        f"{UNTRUSTED_NOTE}"
    )
