"""Prompts that chain the tools for the two most common support questions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.views import UNTRUSTED_NOTE


def summarize_case(
    case_number: Annotated[int, Field(gt=0, le=2**53, description="The case number, e.g. 48213.")],
) -> str:
    """Summarize a Sprinklr case: what it is about, where it stands, what the customer said last."""
    return (
        f"Summarize Sprinklr case {case_number} for a support agent.\n"
        f"1. Call get_case with case_number={case_number} and activity=true.\n"
        f"2. Call get_case_messages with case_number={case_number}, order='newest_first', limit=10.\n"
        "Then answer in at most eight lines: what the case is about, its status, priority and owner, what the "
        "customer said last and when, and what the brand promised, if anything. Quote the customer sparingly.\n"
        f"{UNTRUSTED_NOTE}"
    )


def customer_history(
    email: Annotated[str | None, Field(max_length=254, description="The customer's email, if known.")] = None,
    case_number: Annotated[
        int | None, Field(gt=0, le=2**53, description="A case of the customer, if the email is not known.")
    ] = None,
) -> str:
    """Everything Sprinklr knows about one customer: their profile and their cases, newest first."""
    if email:
        first = f"Call lookup_profile with email={email!r} and cases=10."
    elif case_number:
        first = (
            f"Call get_case with case_number={case_number}; then call lookup_profile with the customer's "
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
