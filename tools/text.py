"""Customer-written text made safe to show a model: cleaned, optionally redacted, and fenced as untrusted data."""

from __future__ import annotations

import functools
import html
import re
import secrets
import unicodedata
from dataclasses import dataclass, field

# Invisible and direction-changing characters hide or reorder text: drop them (ZWJ survives, for emoji).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200c\u200e\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0e\ufeff\uffa0\ufff0-\ufffb]|[\U000e0000-\U000e007f]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]{0,500}>")
_SCRIPT = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\w+/-])(?:\d[ -]?){12,18}\d(?![\w/-])")
# A phone number stands alone: not glued to letters, slashes or dashes (INV-2025-356095 is an invoice, not a phone).
_PHONE = re.compile(r"(?<![\w/-])\+?\d[\d\s().-]{7,}\d(?![\w/-])")


@functools.lru_cache(maxsize=8192)
def clean(text: str) -> str:
    """Strip HTML, invisible and bidirectional control characters; keep the words, emoji and right-to-left script.

    Memoised: the same names, subjects and field values come back on every read of a cached case.
    """
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    # Angle brackets left over cannot open or close a fence once they are not angle brackets.
    text = text.replace("<", "‹").replace(">", "›")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


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


@dataclass
class Fence:
    """Marks customer-written text for one tool result; the random id means no text can forge the closing mark."""

    redact_pii: bool = False
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def opening(self) -> str:
        """The mark that opens untrusted text in this result."""
        return f"<<untrusted:{self.nonce}>>"

    @property
    def closing(self) -> str:
        """The mark that closes untrusted text in this result."""
        return f"<</untrusted:{self.nonce}>>"

    def plain(self, text: str | None) -> str | None:
        """Clean (and redact if configured) a short customer-provided value without fencing it, e.g. a name."""
        if text is None:
            return None
        text = clean(text)
        if self.redact_pii:
            text = redact(text)
        return text or None

    def wrap(self, text: str | None, limit: int | None = None) -> tuple[str | None, bool]:
        """Clean, redact, cut at `limit` characters and fence; returns (fenced text, whether it was cut)."""
        cleaned = self.plain(text)
        if cleaned is None:
            return None, False
        cut = limit is not None and len(cleaned) > limit
        if cut and limit is not None:
            cleaned = cleaned[:limit].rstrip() + " […]"
        return f"{self.opening}{cleaned}{self.closing}", cut


def server_text(text: str, redact_pii: bool = False) -> str:
    """Text the server itself shows (names, ids, field values from Sprinklr): cleaned, redacted if configured."""
    text = clean(text)
    return redact(text) if redact_pii else text
