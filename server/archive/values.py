"""Cell values of an export parsed into what we store: times as UTC epoch ms, numbers, CSAT, lists, identifiers.

Every parser raises ValueError with a short reason that names no customer data; the importer counts the row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


class Times:
    """Parses the exports' `Year-Month-Day HH:MM:SS.MS` in the export's timezone into UTC epoch milliseconds.

    Hand-rolled rather than strptime: a million-message import parses two or three times per row, and the UTC
    offset is looked up once per local hour instead of once per value.
    """

    def __init__(self, zone: str = "UTC") -> None:
        self.zone: tzinfo = UTC if zone.upper() == "UTC" else ZoneInfo(zone)
        self._utc = self.zone is UTC
        self._offsets: dict[int, int] = {}
        self._hours: dict[str, int] = {}
        # A message's Last Updated is often its Created at: the last answer is kept.
        self._last: tuple[str, int] = ("", 0)

    def parse(self, text: str) -> int:
        """Epoch ms of a timestamp such as '2024-03-05 14:22:31.123' (also 'T', '/', no seconds, Z or +01:00)."""
        last = self._last
        if text == last[0]:
            return last[1]
        value = self._parse(text)
        self._last = (text, value)
        return value

    def _parse(self, text: str) -> int:
        if len(text) == 23 and text[13] == ":" and text[16] == ":" and text[19] == ".":
            # The documented shape: the hour's start is looked up, minutes to milliseconds are added.
            hour = self._hours.get(text[:13])
            if hour is None:
                hour = self._slow(text[:13] + ":00:00.000")
                if len(self._hours) > 100_000:
                    self._hours.clear()
                self._hours[text[:13]] = hour
            minute, second, millis = text[14:16], text[17:19], text[20:23]
            if minute.isdigit() and second.isdigit() and millis.isdigit() and minute < "60" and second < "61":
                return hour + int(minute) * 60_000 + int(second) * 1000 + int(millis)
        return self._slow(text)

    def _slow(self, text: str) -> int:
        text = text.strip()
        offset: int | None = None
        marker = _OFFSET.search(text) if len(text) > 19 or text.endswith("Z") else None
        if marker:
            offset = _offset_seconds(marker.group(1))
            text = text[: marker.start()].rstrip()
        if len(text) < 10 or text[4] not in "-/" or text[7] != text[4]:
            raise ValueError("not a Year-Month-Day timestamp")
        try:
            day = date(int(text[0:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_ORDINAL
            hour = minute = second = millis = 0
            if len(text) > 10:
                if text[10] not in " T" or len(text) < 16 or text[13] != ":":
                    raise ValueError
                hour, minute = int(text[11:13]), int(text[14:16])
                if len(text) > 16:
                    if text[16] != ":":
                        raise ValueError
                    second = int(text[17:19])
                    if len(text) > 19:
                        if text[19] not in ".,":
                            raise ValueError
                        fraction = text[20:23]
                        millis = int(fraction.ljust(3, "0")) if fraction.isdigit() else _bad()
            if hour > 23 or minute > 59 or second > 60:
                raise ValueError
        except ValueError:
            raise ValueError("not a Year-Month-Day HH:MM:SS.MS timestamp") from None
        local = (day * 86400 + hour * 3600 + minute * 60 + second) * 1000 + millis
        if offset is None:
            offset = 0 if self._utc else self._offset_at(day, hour)
        return local - offset * 1000

    def _offset_at(self, day: int, hour: int) -> int:
        """The zone's UTC offset at a local hour, in seconds (the earlier one in an ambiguous hour)."""
        key = day * 24 + hour
        known = self._offsets.get(key)
        if known is None:
            if len(self._offsets) > 500_000:  # ~57 years of hours: a bound, not a cache policy
                self._offsets.clear()
            moment = datetime.fromordinal(day + _EPOCH_ORDINAL) + timedelta(hours=hour)
            utcoffset = moment.replace(tzinfo=self.zone).utcoffset()
            known = int(utcoffset.total_seconds()) if utcoffset is not None else 0
            self._offsets[key] = known
        return known


def _bad() -> int:
    raise ValueError


def _offset_seconds(marker: str) -> int:
    if marker == "Z":
        return 0
    sign = -1 if marker[0] == "-" else 1
    digits = marker[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)


def parse_int(text: str) -> int:
    """A count such as '12' (Excel may write '12.0' or '1,234')."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    try:
        return int(cleaned)
    except ValueError:
        value = float(cleaned)
        if value != int(value):
            raise ValueError("not a whole number") from None
        return int(value)


def parse_float(text: str) -> float:
    """A duration in seconds such as '12.5' (a decimal comma, as Excel writes it in some locales, is accepted)."""
    cleaned = text.strip().replace(" ", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    value = float(cleaned.replace(",", ""))
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def parse_csat(text: str) -> int:
    """A CSAT score 1-5, given as '4' or as its label '4- Satisfied'."""
    match = re.match(r"\s*([1-5])(?:\.0)?(?:\s*[-–].*)?\s*$", text)
    if not match:
        raise ValueError("not a CSAT score 1-5")
    return int(match.group(1))


def split_list(text: str | None) -> list[str]:
    """The names of a multi-valued cell (topics, tags): separated by commas, semicolons or pipes."""
    if not text:
        return []
    return [part.strip() for part in re.split(r"[,;|]", text) if part.strip()]


IdentifierKind = Literal["email", "phone", "handle", "name"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{6,}$")
_HANDLE = re.compile(r"^@?[\w.\-]{1,64}$")


def identifier(raw: str) -> tuple[IdentifierKind, str] | None:
    """What kind of identifier a contact value is, and its normal form for matching (None for empty values).

    Emails match case-insensitively; phones by their digits (stored reversed, so the last digits are a prefix
    and a number with or without its country code matches); handles without '@', case-insensitively.
    """
    value = raw.strip()
    if not value:
        return None
    if _EMAIL.match(value):
        return "email", value.lower()
    if _PHONE.match(value):
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 6:
            return "phone", digits[::-1]
    if _HANDLE.match(value):
        return "handle", value.lstrip("@").lower()
    return "name", " ".join(value.lower().split())


PHONE_MATCH_DIGITS = 9


def phone_key(raw: str) -> str | None:
    """The reversed last digits of a phone number to look up by prefix; None if it has too few digits."""
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 6:
        return None
    return digits[::-1][:PHONE_MATCH_DIGITS]


def handle_key(raw: str) -> str:
    """A handle as stored: without '@', lower-case."""
    return raw.strip().lstrip("@").lower()
