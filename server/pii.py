"""Personal data in text: email addresses, payment card numbers and phone numbers, masked on request.

Used for SPRINKLR_MCP_REDACT_PII in what tools return, and always in recordings of upstream exchanges.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\w+/-])(?:\d[ -]?){12,18}\d(?![\w/-])")
# A phone number stands alone: not glued to letters, slashes or dashes (INV-2025-356095 is an invoice, not a phone).
_PHONE = re.compile(r"(?<![\w/-])\+?\d[\d\s().-]{7,}\d(?![\w/-])")


def redact(text: str) -> str:
    """Mask email addresses, card-like numbers and phone numbers."""
    text = _EMAIL.sub("[email]", text)
    text = _CARD.sub(lambda m: "[card]" if _luhn(re.sub(r"\D", "", m.group())) else m.group(), text)
    return _PHONE.sub("[phone]", text)


def _luhn(digits: str) -> bool:
    """True for a 13-19 digit number that passes the Luhn check, as payment card numbers do."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
