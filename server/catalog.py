"""The account's vocabulary: names for user, field and queue ids, and the values filters can take.

Read once per cache period (hours) from documented sources: USER and CUSTOM_FIELD search for names and picklist
options, and one page of the latest cases for the values fields actually take. Filter values a model gives are
matched against these case-insensitively and sent in the account's own spelling (and, for languages and countries,
as both code and name), so ["urgent"] finds Urgent cases and ["Austria"] finds cases filed as AT.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from server.models import Case, FieldDef, User
from server.settings import Settings
from server.sprinklr import SprinklrClient

Role = Literal["status", "priority", "type", "brand", "language", "country", "queue", "assignee"]
ROLES: tuple[Role, ...] = ("status", "priority", "type", "brand", "language", "country", "queue", "assignee")
# Custom field roles and the friendly names they have in SPRINKLR_MCP_CUSTOM_FIELDS.
FIELD_ROLES: dict[Role, str] = {
    "status": "Status",
    "priority": "Priority",
    "type": "Type",
    "brand": "Brand",
    "language": "Language",
    "country": "Country",
}

LANGUAGES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "zh": "Chinese",
    "ar": "Arabic", "it": "Italian", "nl": "Dutch", "ja": "Japanese", "ko": "Korean", "ru": "Russian",
    "pl": "Polish", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "tr": "Turkish",
    "he": "Hebrew", "hi": "Hindi", "id": "Indonesian", "th": "Thai", "vi": "Vietnamese", "cs": "Czech",
    "el": "Greek", "hu": "Hungarian", "ro": "Romanian", "uk": "Ukrainian", "ms": "Malay",
}  # fmt: skip
COUNTRIES = {
    "US": "United States", "GB": "United Kingdom", "CA": "Canada", "AU": "Australia", "IE": "Ireland",
    "IN": "India", "NZ": "New Zealand", "ZA": "South Africa", "ES": "Spain", "MX": "Mexico", "AR": "Argentina",
    "CO": "Colombia", "CL": "Chile", "PE": "Peru", "FR": "France", "BE": "Belgium", "CH": "Switzerland",
    "LU": "Luxembourg", "DE": "Germany", "AT": "Austria", "NL": "Netherlands", "IT": "Italy", "PT": "Portugal",
    "BR": "Brazil", "CN": "China", "TW": "Taiwan", "HK": "Hong Kong", "SG": "Singapore", "JP": "Japan",
    "KR": "South Korea", "AE": "United Arab Emirates", "SA": "Saudi Arabia", "EG": "Egypt", "SE": "Sweden",
    "NO": "Norway", "DK": "Denmark", "FI": "Finland", "PL": "Poland", "CZ": "Czechia", "TR": "Turkey",
    "IL": "Israel", "RU": "Russia", "UA": "Ukraine", "GR": "Greece", "RO": "Romania", "HU": "Hungary",
    "ID": "Indonesia", "MY": "Malaysia", "TH": "Thailand", "VN": "Vietnam", "PH": "Philippines", "NG": "Nigeria",
}  # fmt: skip
ALIASES = {"uk": "GB", "usa": "US", "united states of america": "US", "great britain": "GB", "england": "GB"}


@dataclass
class Values:
    """What each filterable field takes in this account, most frequent first, with how often it was seen."""

    seen: dict[Role, Counter[str]] = field(default_factory=dict)
    options: dict[Role, list[str]] = field(default_factory=dict)
    sample_size: int = 0

    def of(self, role: Role) -> list[str]:
        """Known values of a field: picklist options first, then values seen in the latest cases."""
        known = list(self.options.get(role, []))
        seen = self.seen.get(role, Counter())
        known += [value for value, _ in seen.most_common() if value not in known]
        return known


@dataclass(frozen=True)
class Match:
    """A filter's values as they will be sent, and the given values that matched nothing known."""

    send: list[str]
    unknown: list[str]


def _variants(role: Role, value: str) -> list[str]:
    """Other spellings of a language or country (code and name) that the account may use."""
    folded = value.strip().casefold()
    if role == "language":
        for code, name in LANGUAGES.items():
            if folded in (code, name.casefold()):
                return [code, name]
    if role == "country":
        folded = ALIASES.get(folded, folded).casefold()
        for code, name in COUNTRIES.items():
            if folded in (code.casefold(), name.casefold()):
                return [code, name]
    return []


def normalise(role: Role, given: Iterable[str], known: list[str], labels: Mapping[str, str] | None = None) -> Match:
    """Match filter values to the account's spelling, case-insensitively; keep unmatched ones as given."""
    by_fold = {value.casefold(): value for value in known}
    for value_id, name in (labels or {}).items():
        by_fold.setdefault(name.casefold(), value_id)
    send: list[str] = []
    unknown: list[str] = []
    for value in given:
        stripped = value.strip()
        matched = by_fold.get(stripped.casefold())
        variants = [by_fold.get(v.casefold(), v) for v in _variants(role, stripped)]
        if matched is None and not any(v.casefold() in by_fold for v in _variants(role, stripped)):
            unknown.append(stripped)
        for candidate in [matched or stripped, *variants]:
            if candidate not in send:
                send.append(candidate)
    return Match(send, unknown)


def resolve_ids(given: Iterable[str], names: Mapping[str, str | None]) -> Match:
    """Ids for values given as names or ids (case-insensitively); a value matching neither is sent as given."""
    by_fold = {key.casefold(): key for key in names}
    by_fold.update({name.casefold(): key for key, name in names.items() if name})
    send: list[str] = []
    unknown: list[str] = []
    for value in given:
        found = by_fold.get(value.strip().casefold())
        if found is None:
            unknown.append(value.strip())
        candidate = found or value.strip()
        if candidate not in send:
            send.append(candidate)
    return Match(send, unknown)


def user_names(users: Mapping[str, User]) -> dict[str, str | None]:
    """User id -> name."""
    return {user_id: user.name for user_id, user in users.items()}


def field_names(fields: Mapping[str, FieldDef], configured: Mapping[str, str]) -> dict[str, str | None]:
    """Custom field id -> name: configured names (SPRINKLR_MCP_CUSTOM_FIELDS) win over CUSTOM_FIELD search."""
    names: dict[str, str | None] = {field_id: field.name for field_id, field in fields.items()}
    names.update({field_id: name for name, field_id in configured.items()})
    return names


class Catalog:
    """Names and values of one account, from the client's cached directory reads."""

    def __init__(self, client: SprinklrClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    @property
    def field_ids(self) -> dict[str, str]:
        """Friendly field name -> custom field id (SPRINKLR_MCP_CUSTOM_FIELDS over the reference's defaults)."""
        return self._settings.custom_fields

    @property
    def queue_names(self) -> dict[str, str]:
        """Queue id -> name (SPRINKLR_MCP_QUEUE_NAMES: the reference documents no way to read queue names)."""
        return {queue_id: name for name, queue_id in self._settings.queue_names.items()}

    async def user_names(self) -> dict[str, str | None]:
        """User id -> name, from USER search (one read per cache period)."""
        return user_names(await self._client.users())

    async def field_names(self) -> dict[str, str | None]:
        """Custom field id -> name: configured names win, then CUSTOM_FIELD search."""
        return field_names(await self._client.custom_fields(), self.field_ids)

    async def values(self) -> Values:
        """The values of every filterable field: picklist options and what the latest cases carry."""
        sample = await self._client.case_sample()
        definitions = await self._client.custom_fields()
        values = Values(seen={role: Counter() for role in ROLES}, sample_size=len(sample))
        for role, friendly in FIELD_ROLES.items():
            definition = definitions.get(self.field_ids.get(friendly, ""))
            if definition is not None and definition.options:
                values.options[role] = list(dict.fromkeys(definition.options))
        for case in sample:
            self._observe(case, values.seen)
        users = await self.user_names()
        values.options["queue"] = list(self.queue_names.values())
        values.options["assignee"] = [name for name in users.values() if name][:200]
        return values

    def _observe(self, case: Case, seen: dict[Role, Counter[str]]) -> None:
        props = case.workflow.custom_properties if case.workflow else {}
        top: dict[Role, object] = {"status": case.status, "priority": case.priority, "type": case.case_type}
        for role, friendly in FIELD_ROLES.items():
            # Status, priority and type are shown from the top level when a case has them there.
            values = [top[role]] if top.get(role) else props.get(self.field_ids.get(friendly, ""), [])[:5]
            for value in values:
                if isinstance(value, str | int | float) and str(value).strip():
                    seen[role][str(value)] += 1
        if case.workflow:
            for queue in case.workflow.queues:
                if queue.queue_id:
                    seen["queue"][self.queue_names.get(queue.queue_id, queue.queue_id)] += 1
            if case.workflow.assignment and case.workflow.assignment.assignee_id:
                seen["assignee"][case.workflow.assignment.assignee_id] += 1

    def status_in_custom_fields(self, sample: list[Case]) -> bool:
        """Whether this account's cases carry status in workflow.customProperties (the documented filter path)."""
        status_id = self.field_ids.get("Status", "spr_uc_status")
        return any(status_id in (c.workflow.custom_properties if c.workflow else {}) for c in sample)
