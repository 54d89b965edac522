"""Untrusted text as types: every string from Sprinklr reaches a view only as Line, Code or Fenced.

Wire models hold raw strings. The three functions here are the only way from a raw string to something a view
can render, and views declare their string fields with these types, so mypy refuses a view that renders raw text:
- `line()`  -> Line:   cleaned, single-line, capped (names, handles, emails, option labels, ...);
- `code()`  -> Code:   a short code-like value of a safe shape (status, channel, language), or None;
- `fenced()`-> Fenced: cleaned free text (subjects, descriptions, messages), wrapped at output between
  `<<untrusted:ID>>` marks with the result's own random id (see `fence_context`).

Cleaning removes what hides, reorders or breaks text: control characters (newlines too, except that free text keeps
its line breaks as a visible ' ⏎ '), bidi controls, zero-width and tag characters, variation selectors, HTML. '<'
and '>' become '‹' and '›', so no text can open or close a fence, whatever id it guesses.
"""

from __future__ import annotations

import html
import re
import secrets
import unicodedata
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, PlainSerializer, SerializationInfo, WithJsonSchema
from pydantic_core import core_schema

from server.pii import redact

# Zero-width, bidi and other invisible format characters, variation selectors and the tag block.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]"
    "|[\U000e0000-\U000e007f]|[\U000e0100-\U000e01ef]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NEWLINES = re.compile(r"\s*(?:\r\n|\r|\n)\s*")
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]{0,500}>")
_SCRIPT = re.compile(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]{2,}")
# A code-like value: a few short words (status "Awaiting Customer", channel "SINA_WEIBO", language "pt-BR").
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.&/()+'#-]{0,31}(?: [A-Za-z0-9_.&/()+'#-]{1,31}){0,3}$")
# An identifier: one token of letters, digits and the punctuation ids, handles, emails and URLs use.
_IDENT = re.compile(r"^\+?[A-Za-z0-9][A-Za-z0-9_.:@+/=?&%~#-]{0,299}$")
# Cleaning is linear, but a huge field would still be cleaned whole before being cut: cut the raw text first, with
# room for what cleaning removes.
_RAW_SLACK = 4

BREAK = " ⏎ "
CUT = " […]"
LINE_LIMIT = 200


class _Checked(str):
    """A string that passed one of the constructors below; views accept nothing else."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[Any], handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Views are built in code, from these types only: a plain str is refused at run time too.
        return core_schema.json_or_python_schema(
            json_schema=core_schema.str_schema(),
            python_schema=core_schema.is_instance_schema(cls),
            serialization=cls._serializer(),
        )

    @classmethod
    def _serializer(cls) -> core_schema.SerSchema:
        return core_schema.plain_serializer_function_ser_schema(str)


class Line(_Checked):
    """Cleaned single-line text from upstream, at most a few hundred characters."""


class Code(_Checked):
    """A short code-like value from upstream (status, channel, language) of a safe shape."""


class Fenced(_Checked):
    """Cleaned free text from upstream; serialised between the result's untrusted-content marks."""

    @classmethod
    def _serializer(cls) -> core_schema.SerSchema:
        return core_schema.plain_serializer_function_ser_schema(_wrap, info_arg=True)


def _wrap(value: Fenced, info: SerializationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    if context.get("hold"):
        # Dumped as a template (tools/common.py): the value stays a Fenced object, a slot filled per result.
        return value
    return fence_text(value, context.get("fence") or "0")


def fence_text(value: str, nonce: str) -> str:
    """Text between this result's untrusted-content marks."""
    return f"<<untrusted:{nonce}>>{value}<</untrusted:{nonce}>>"


def _serialize(value: _Checked, info: SerializationInfo) -> str:
    """One serializer for a field that may hold any checked text: Fenced is wrapped, the others are as they are.

    Pydantic serializes a union by inference, which would lose the fence: this is set on the union itself.
    """
    return _wrap(value, info) if isinstance(value, Fenced) else str(value)


# A view field that may hold any checked text (a code, a cleaned line, or fenced free text).
Text = Annotated[
    Line | Code | Fenced,
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema({"type": "string"}),
]


def new_fence_id() -> str:
    """A fresh random id for one result's untrusted-content marks."""
    return secrets.token_hex(3)


def fence_context(fence_id: str) -> dict[str, str]:
    """The serialisation context that wraps Fenced fields with this result's marks."""
    return {"fence": fence_id}


# The serialisation context that keeps Fenced values as objects (out of band), to be wrapped later, per result.
HOLD: dict[str, bool] = {"hold": True}


def clean(text: str, *, keep_breaks: bool = False) -> str:
    """Strip HTML, control, invisible and bidirectional characters; keep words, emoji and right-to-left script."""
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _NEWLINES.sub(BREAK if keep_breaks else " ", text.strip())
    text = _CONTROL.sub(" ", text)
    # Angle brackets left over cannot open or close a fence once they are not angle brackets.
    text = text.replace("<", "‹").replace(">", "›")
    return _SPACES.sub(" ", text).strip()


def _prepare(raw: object, limit: int, *, keep_breaks: bool, pii: bool) -> str | None:
    if raw is None or isinstance(raw, dict | list):
        return None
    text = raw if isinstance(raw, str) else str(raw)
    oversized = len(text) > limit * _RAW_SLACK + 64
    if oversized:
        text = text[: limit * _RAW_SLACK + 64]
    text = clean(text, keep_breaks=keep_breaks)
    if pii:
        text = redact(text)
    if len(text) > limit or (oversized and text):
        text = text[: max(0, limit - len(CUT))].rstrip() + CUT
    return text or None


def line(raw: object, limit: int = LINE_LIMIT, *, pii: bool = False) -> Line | None:
    """Upstream text as one cleaned line of at most `limit` characters ('[…]' marks a cut); None when empty."""
    text = _prepare(raw, limit, keep_breaks=False, pii=pii)
    return None if text is None else Line(text)


def fenced(raw: object, limit: int, *, pii: bool = False) -> Fenced | None:
    """Upstream free text, cleaned and cut at `limit` characters, for fencing at output; None when empty."""
    text = _prepare(raw, limit, keep_breaks=True, pii=pii)
    return None if text is None else Fenced(text)


def code(raw: object) -> Code | None:
    """A short code-like upstream value (e.g. 'Open', 'TWITTER', 'en') if it has a safe shape, else None."""
    if raw is None or isinstance(raw, dict | list | bool):
        return None
    text = clean(str(raw)[:64])
    return Code(text) if _CODE.match(text) else None


def word(raw: object, limit: int = 80, *, pii: bool = False) -> Code | Fenced | None:
    """A code-like value (status, channel, language): as a Code when its shape is safe, else fenced."""
    return code(raw) or fenced(raw, limit, pii=pii)


def ident(raw: object, limit: int = 300, *, pii: bool = False) -> Line | Fenced | None:
    """An identifier, handle, email or link: one cleaned token when its shape is that of one, else fenced."""
    text = _prepare(raw, limit, keep_breaks=False, pii=pii)
    if text is None:
        return None
    return Line(text) if _IDENT.match(text) else Fenced(text)


def label(raw: object, limit: int = 48) -> Line | None:
    """An upstream name used as a key in a view (e.g. a custom field's name): one line without ':' or quotes."""
    text = _prepare(raw, limit, keep_breaks=False, pii=False)
    if text is None:
        return None
    return Line(re.sub(r"[:\"'`{}\[\],#|]", "_", text).strip("_ -") or "_")


def ours(text: str) -> Line:
    """Text this server wrote itself (never upstream data), for a view field typed Line."""
    return Line(text)
