"""Deterministic generator of a Sprinklr-shaped dataset: cases, their conversations, and customer profiles."""

from __future__ import annotations

import datetime as dt
import random
import string
import unicodedata
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from server.sandbox import corpus
from server.sandbox.corpus import Brand, Phrases

JSON = dict[str, Any]

BRAND_FIELD = "5cc9a7cfe4b01904c8dfc908"
LANGUAGE_FIELD = "5cc9a7d0e4b01904c8dfc965"
COUNTRY_FIELD = "_c_66fcd9757813fc0020abeda3"
# Fields the reference does not name, present so that clients meet custom fields they have no label for.
TIER_FIELD = "_c_5f8a1b2c3d4e5f6a7b8c9d0e"
ESCALATED_FIELD = "61a7c3e5e4b0a1b2c3d4e5f6"

FIRST_CASE_NUMBER = 48000
DAY_MS = 86_400_000
# The data covers about 22 months up to the anchor day, and customers' profiles were made in the six years before.
SPAN_DAYS = 670
PROFILE_SPAN_DAYS = 6 * 365
# The last days before the anchor hold a block of cases made so that "this week" questions have answers.
RECENT_DAYS = 7
RECENT_STATUS_PRIORITY = (
    ("Open", "Urgent"),
    ("New", "Urgent"),
    ("Pending", "High"),
    ("Closed", "Low"),
    ("Open", "Medium"),
    ("New", "High"),
)
# Fewest messages a conversation needs to end in each status (Open: a brand reply, then the customer again).
MIN_MESSAGES = {"New": 1, "Open": 3, "Pending": 2, "Closed": 2}
RECENT_MAX_MESSAGES = 40

CHANNELS = ("TWITTER", "FACEBOOK", "INSTAGRAM", "LINKEDIN", "YOUTUBE", "TIKTOK", "WORKFLOW")
CHANNEL_WEIGHTS = (30, 24, 17, 6, 5, 8, 10)
# Message type codes (public in, public out, private in, private out). TWITTER, FACEBOOK, INSTAGRAM and LINKEDIN
# come from the reference's tables; YOUTUBE, TIKTOK and WORKFLOW are not listed there, so they get stable codes
# of their own that collide with none of the documented ones.
MESSAGE_TYPES: dict[str, tuple[int, int, int, int]] = {
    "TWITTER": (1, 7, 5, 3),
    "FACEBOOK": (14, 97, 38, 38),
    "INSTAGRAM": (37, 306, 320, 320),
    "LINKEDIN": (70, 70, 70, 70),
    "YOUTUBE": (61, 62, 61, 62),
    "TIKTOK": (410, 411, 412, 412),
    "WORKFLOW": (1001, 1002, 1001, 1002),
}
QUEUES = {
    "Social Care": "5e8f1a2b3c4d5e6f7a8b9c01",
    "Billing": "5e8f1a2b3c4d5e6f7a8b9c02",
    "Escalations": "5e8f1a2b3c4d5e6f7a8b9c03",
    "Tech Support": "5e8f1a2b3c4d5e6f7a8b9c04",
    "VIP": "5e8f1a2b3c4d5e6f7a8b9c05",
    "Spam Review": "5e8f1a2b3c4d5e6f7a8b9c06",
}
TOPIC_QUEUE = {
    "order": "Social Care",
    "refund": "Billing",
    "outage": "Tech Support",
    "login": "Tech Support",
    "billing": "Billing",
}
# The reference's language table: the names a Language field may hold instead of codes.
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ar": "Arabic",
}
TOPIC_CASE_TYPES = {
    "order": ("Problem", "Question"),
    "refund": ("Complaint", "Question"),
    "outage": ("Incident", "Problem"),
    "login": ("Problem", "Question"),
    "billing": ("Complaint", "Question"),
}
ATTACHMENTS = (
    ("PHOTO", "jpg", 50),
    ("VIDEO", "mp4", 10),
    ("PDF", "pdf", 15),
    ("DOCUMENT", "docx", 8),
    ("AUDIO", "m4a", 7),
)
_ALNUM = string.ascii_letters + string.digits
_MEDIA = "https://media.sprinklr-sandbox.example"


@dataclass(slots=True)
class Dataset:
    """One generated dataset with the indexes a fast simulator needs; never mutated after generation."""

    seed: int
    cases: list[JSON]
    messages: list[JSON]
    profiles: list[JSON]
    case_message_ids: dict[str, list[str]]
    highlights: dict[str, list[int]]
    # The day the data ends on (exclusive: the newest message is just before 00:00 UTC that day).
    anchor: dt.date | None = None
    # The agents and bots cases are assigned to (USER search), and the custom fields cases use (CUSTOM_FIELD search).
    users: list[JSON] = field(default_factory=list)
    custom_fields: list[JSON] = field(default_factory=list)
    case_by_number: dict[int, JSON] = field(init=False)
    case_by_id: dict[str, JSON] = field(init=False)
    message_by_id: dict[str, JSON] = field(init=False)
    profile_by_id: dict[str, JSON] = field(init=False)
    case_message_times: dict[str, list[int]] = field(init=False)
    message_times: list[int] = field(init=False)
    # Derived datasets (hostile, oversize, other field shapes) built from this one, by variant key; see variants.py.
    variants: dict[tuple[Any, ...], Dataset] = field(init=False, default_factory=dict)
    # For a derived dataset, the one it was derived from (ids and case numbers are the same in both).
    origin: Dataset | None = field(init=False, default=None)
    _summary: JSON | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Index cases, messages and profiles, and order messages by channelCreatedTime for time-window search."""
        self.messages.sort(key=lambda m: (m["channelCreatedTime"], m["messageId"]))
        self.message_times = [m["channelCreatedTime"] for m in self.messages]
        self.case_by_number = {c["caseNumber"]: c for c in self.cases}
        self.case_by_id = {c["id"]: c for c in self.cases}
        self.message_by_id = {m["messageId"]: m for m in self.messages}
        self.profile_by_id = {p["id"]: p for p in self.profiles}
        if len(self.message_by_id) != len(self.messages) or len(self.case_by_id) != len(self.cases):
            raise ValueError("generated identifiers collide; this is a bug in the generator")
        self.case_message_times = {
            case_id: [self.message_by_id[i]["channelCreatedTime"] for i in ids]
            for case_id, ids in self.case_message_ids.items()
        }

    def messages_between(self, since: int, until: int) -> list[JSON]:
        """Messages with since <= channelCreatedTime <= until, oldest first."""
        return self.messages[bisect_left(self.message_times, since) : bisect_left(self.message_times, until + 1)]

    def summary(self) -> JSON:
        """A small description with real example values, for tests, docs and people trying the sandbox."""
        if self._summary is None:
            self._summary = self._describe()
        return self._summary

    def _describe(self) -> JSON:
        counts = Counter(c["contact"]["id"] for c in self.cases)
        repeat = [
            {
                "profileId": p["id"],
                "channelType": p["channelType"],
                "channelId": p["channelId"],
                "cases": counts[p["id"]],
            }
            for p in self.profiles
            if counts[p["id"]] >= 5
        ]
        repeat.sort(key=lambda r: (-r["cases"], r["profileId"]))
        with_contact = [p for p in self.profiles if counts[p["id"]] and "email" in p["contact"]]
        with_phone = [p for p in self.profiles if counts[p["id"]] and "phoneNo" in p["contact"]]
        biggest = max(self.cases, key=lambda c: len(self.case_message_ids[c["id"]]), default=None)
        return {
            "seed": self.seed,
            "anchor": self.anchor.isoformat() if self.anchor else None,
            "counts": {
                "cases": len(self.cases),
                "messages": len(self.messages),
                "profiles": len(self.profiles),
                "deletedCases": sum(1 for c in self.cases if c["deleted"]),
                "users": len(self.users),
                "customFields": len(self.custom_fields),
            },
            "caseNumbers": {
                "first": self.cases[0]["caseNumber"] if self.cases else None,
                "last": self.cases[-1]["caseNumber"] if self.cases else None,
                "biggest": biggest["caseNumber"] if biggest else None,
                "sample": [c["caseNumber"] for c in self.cases[:: max(1, len(self.cases) // 10)]][:10],
                **{name: numbers[:10] for name, numbers in self.highlights.items()},
            },
            "biggestCase": (
                {
                    "caseNumber": biggest["caseNumber"],
                    "id": biggest["id"],
                    "messages": len(self.case_message_ids[biggest["id"]]),
                }
                if biggest
                else None
            ),
            "profiles": {
                "sampleIds": [p["id"] for p in self.profiles[:5]],
                "sampleEmails": [p["contact"]["email"] for p in with_contact[:5]],
                "samplePhones": [p["contact"]["phoneNo"] for p in with_phone[:5]],
                "sampleChannelIds": [
                    {"channelType": p["channelType"], "channelId": p["channelId"]} for p in with_contact[:5]
                ],
                "repeatCustomers": repeat[:10],
            },
            "users": [{"id": u["id"], "name": u["name"], "userType": u["userType"]} for u in self.users],
            "customFields": {"brand": BRAND_FIELD, "language": LANGUAGE_FIELD, "country": COUNTRY_FIELD},
            "customFieldIds": [f["id"] for f in self.custom_fields],
            "brands": [b.name for b in corpus.BRANDS],
            # Queue names are documented nowhere in the reference: they are shown here only, never by the API.
            "queues": QUEUES,
            "timeRange": {
                "firstMessage": self.message_times[0] if self.messages else None,
                "lastMessage": self.message_times[-1] if self.messages else None,
                "end": _midnight_ms(self.anchor) if self.anchor else None,
            },
            "recent": self._recent(),
        }

    def _recent(self) -> JSON:
        """What the last RECENT_DAYS days hold: the questions about "this week" that have answers."""
        if self.anchor is None:
            return {}
        if self.origin is not None:
            # Derived data may have rewritten statuses and brands; the plain values are the origin's.
            return self.origin._recent()
        until = _midnight_ms(self.anchor)
        since = until - RECENT_DAYS * DAY_MS
        recent = [c for c in self.cases if since <= c["createdTime"] < until and not c["deleted"]]
        urgent_open: dict[str, list[int]] = {}
        waiting: list[int] = []
        for case in recent:
            brand = case["workflow"]["customProperties"][BRAND_FIELD][0]
            if case["priority"] == "Urgent" and case["status"] in ("New", "Open"):
                urgent_open.setdefault(brand, []).append(case["caseNumber"])
            last = self.message_by_id[self.case_message_ids[case["id"]][-1]]
            if case["status"] in ("New", "Open") and not last["brandPost"]:
                waiting.append(case["caseNumber"])
        return {
            "since": since,
            "until": until,
            "cases": len(recent),
            "byStatus": dict(Counter(c["status"] for c in recent)),
            "byPriority": dict(Counter(c["priority"] for c in recent)),
            "urgentOpenByBrand": urgent_open,
            "waitingOnBrand": waiting,
        }


@dataclass(slots=True)
class _Customer:
    """A profile plus the private facts the generator needs to write as that person."""

    profile: JSON
    social: JSON
    lang: str
    country: str
    first_name: str


@dataclass(slots=True)
class _Account:
    """A brand's account on one channel: the source of messages and the agents' sender profile."""

    source_id: str
    profile: JSON


def generate(
    seed: int = 7,
    cases: int = 1000,
    profiles: int = 500,
    target_messages: int = 10000,
    anchor: dt.date | None = None,
) -> Dataset:
    """Generate the dataset for a seed and an anchor day (default today, UTC); the same arguments give the same data."""
    if cases > 0 and profiles < 1:
        raise ValueError("cases need at least one profile to belong to")
    day = anchor or dt.datetime.now(dt.UTC).date()
    return _Generator(random.Random(seed), day).run(seed, cases, profiles, target_messages)


def cached_dataset(
    seed: int = 7,
    cases: int = 1000,
    profiles: int = 500,
    target_messages: int = 10000,
    anchor: dt.date | None = None,
) -> Dataset:
    """The dataset for these arguments, generated once per process; it is read-only, so sandboxes share it."""
    return _cached(seed, cases, profiles, target_messages, anchor or dt.datetime.now(dt.UTC).date())


@lru_cache(maxsize=4)
def _cached(seed: int, cases: int, profiles: int, target_messages: int, anchor: dt.date) -> Dataset:
    return generate(seed, cases, profiles, target_messages, anchor)


def _midnight_ms(day: dt.date) -> int:
    """Epoch milliseconds at 00:00 UTC on a day."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _object_id(rng: random.Random, epoch_ms: int) -> str:
    """A 24-hex id shaped like a MongoDB ObjectId: creation seconds, then random bits."""
    return f"{epoch_ms // 1000:08x}{rng.getrandbits(64):016x}"


def _ascii(text: str) -> str:
    """Strip accents and anything but letters, for usernames and e-mail addresses."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded if ch.isalnum()).lower()


class _Generator:
    """Holds the random source and the shared pieces while one dataset is built."""

    def __init__(self, rng: random.Random, anchor: dt.date) -> None:
        self.rng = rng
        self.anchor = anchor
        # Nothing is later than `end` (00:00 UTC on the anchor day), so "now" never sees the future.
        self.end = _midnight_ms(anchor)
        self.begin = self.end - SPAN_DAYS * DAY_MS
        self.accounts: dict[tuple[str, str], _Account] = {}
        self.listening_ids = [str(rng.randrange(100000, 999999)) for _ in range(3)]
        self.agents = [(name, 1000000 + 37 * i) for i, name in enumerate(corpus.AGENT_NAMES)]
        self.bots = [("Care Assist Bot", 9000001), ("Triage Bot", 9000002)]
        # What the case being built contains that tests look for (injection, rtl, html, invisibleChars).
        self.flags: set[str] = set()
        # Whether the last customer text _decorate wrote carries an attack (which must not be blanked afterwards).
        self.attacked = False

    def run(self, seed: int, n_cases: int, n_profiles: int, target: int) -> Dataset:
        """Build profiles, then cases in time order, each with its conversation."""
        rng = self.rng
        for brand in corpus.BRANDS:
            for channel in CHANNELS:
                self.accounts[(brand.name, channel)] = self._account(brand, channel)
        customers = self._customers(n_profiles) if n_cases or n_profiles else []
        sizes = self._sizes(n_cases, target)
        # The last days hold their share of ordinary cases plus a planned block (every brand, status and priority,
        # urgent ones still open, customers waiting on the brand); case numbers keep following creation time.
        plan = [(brand, status, priority) for status, priority in RECENT_STATUS_PRIORITY for brand in corpus.BRANDS]
        plan = plan[: n_cases // 4]
        n_recent = min(n_cases, len(plan) + round(n_cases * RECENT_DAYS / SPAN_DAYS))
        recent_from = self.end - RECENT_DAYS * DAY_MS
        starts = sorted(rng.randrange(self.begin, recent_from) for _ in range(n_cases - n_recent))
        starts += sorted(rng.randrange(recent_from + 3_600_000, self.end - 12 * 3_600_000) for _ in range(n_recent))
        planned = dict(zip(sorted(rng.sample(range(n_cases - n_recent, n_cases), len(plan))), plan, strict=True))
        self._fit_sizes(sizes, planned)
        # A few customers write again and again; the rest of the cases are spread evenly.
        regulars = customers[: max(1, min(40, len(customers) // 10))]
        order = sorted(range(n_cases), key=lambda i: -sizes[i])
        specials = {
            "long": set(rng.sample(range(n_cases), min(5, n_cases))),
            "injection": set(order[:1]) | set(rng.sample(range(n_cases), min(3, n_cases))),
            "deleted": (
                {i for i in range(n_cases) if rng.random() < 0.02} | set(rng.sample(range(n_cases), min(1, n_cases)))
            )
            - set(planned),
        }
        highlights: dict[str, set[int]] = {
            name: set()
            for name in (
                "large",
                "injection",
                "rtl",
                "html",
                "invisibleChars",
                "longDescription",
                "deleted",
                "external",
            )
        }
        case_list: list[JSON] = []
        messages: list[JSON] = []
        case_message_ids: dict[str, list[str]] = {}
        for i in range(n_cases):
            customer = rng.choice(regulars) if rng.random() < 0.3 else rng.choice(customers)
            case, conversation = self._case(
                FIRST_CASE_NUMBER + i, starts[i], sizes[i], customer, specials, i, highlights, planned.get(i)
            )
            case_list.append(case)
            messages.extend(conversation)
            case_message_ids[case["id"]] = [m["messageId"] for m in conversation]
        return Dataset(
            seed=seed,
            cases=case_list,
            messages=messages,
            profiles=[c.profile for c in customers],
            case_message_ids=case_message_ids,
            highlights={name: sorted(numbers) for name, numbers in highlights.items()},
            anchor=self.anchor,
            users=self._users(),
            custom_fields=self._custom_fields(),
        )

    def _fit_sizes(self, sizes: list[int], planned: dict[int, tuple[Brand, str, str]]) -> None:
        """Swap conversation sizes so that each planned case can end in its status, keeping the total the same."""
        for index, (_, status, _) in planned.items():
            low = MIN_MESSAGES[status]
            if low <= sizes[index] <= RECENT_MAX_MESSAGES:
                continue
            partner = next(
                (j for j in range(len(sizes)) if j not in planned and low <= sizes[j] <= RECENT_MAX_MESSAGES), None
            )
            if partner is not None:
                sizes[index], sizes[partner] = sizes[partner], sizes[index]

    def _users(self) -> list[JSON]:
        """The agents and bots cases are assigned to, as USER search returns them."""
        users: list[JSON] = []
        for i, (name, user_id) in enumerate(self.agents):
            created = self.begin - (i + 1) * 9 * DAY_MS
            users.append(
                {
                    "id": user_id,
                    "name": name,
                    "email": f"{_ascii(name.split()[0])}.{_ascii(name.split()[-1])}@care.sprinklr-sandbox.example",
                    "userType": "AGENT",
                    "roles": ["Team Lead" if i % 7 == 0 else "Care Agent"],
                    "active": i != len(self.agents) - 1,
                    "createdTime": created,
                    "modifiedTime": created + 30 * DAY_MS,
                }
            )
        for name, user_id in self.bots:
            created = self.begin - 400 * DAY_MS
            users.append(
                {
                    "id": user_id,
                    "name": name,
                    "userType": "BOT",
                    "roles": ["Bot"],
                    "active": True,
                    "createdTime": created,
                    "modifiedTime": created,
                }
            )
        return users

    def _custom_fields(self) -> list[JSON]:
        """Definitions of every custom property cases carry, as CUSTOM_FIELD search returns them."""

        def picklist(field_id: str, name: str, values: list[tuple[str, str]], days: int) -> JSON:
            created = self.begin - days * DAY_MS
            return {
                "id": field_id,
                "name": name,
                "fieldType": "PICKLIST",
                "assetClass": "UNIVERSAL_CASE",
                "multiValued": False,
                "options": [{"value": value, "label": label} for value, label in values],
                "createdTime": created,
                "modifiedTime": created + 60 * DAY_MS,
            }

        case_types = sorted({t for types in TOPIC_CASE_TYPES.values() for t in types} | {"Task"})
        country = picklist(COUNTRY_FIELD, "Country", [], 500)
        # Typed in by hand, which is why the data mixes codes ("AT") and names ("Austria").
        country.update(fieldType="TEXT")
        del country["options"]
        return [
            picklist("spr_uc_status", "Status", [(s, s) for s in ("New", "Open", "Pending", "Closed")], 2000),
            picklist("spr_uc_priority", "Priority", [(p, p) for p in ("Low", "Medium", "High", "Urgent")], 2000),
            picklist("spr_uc_type", "Case Type", [(t, t) for t in case_types], 2000),
            picklist(BRAND_FIELD, "Brand", [(b.name, b.name) for b in corpus.BRANDS], 1500),
            picklist(LANGUAGE_FIELD, "Language", [(code, LANGUAGE_NAMES[code]) for code in corpus.LANGUAGES], 1500),
            country,
            picklist(TIER_FIELD, "Customer Tier", [(t, t) for t in ("Gold", "Silver", "Bronze")], 300),
            {
                **picklist(ESCALATED_FIELD, "Escalated", [("true", "Yes"), ("false", "No")], 200),
                "fieldType": "CHECKBOX",
            },
        ]

    # -- sizes and people -------------------------------------------------------------------------------------------

    def _sizes(self, n_cases: int, target: int) -> list[int]:
        """Messages per case: three long threads (one of 450+), the rest skewed small, summing to the target."""
        rng = self.rng
        if n_cases == 0:
            return []
        big = [480, 350, 310] if n_cases >= 10 and target >= 3000 else []
        sizes = [1] * n_cases
        for index, size in zip(rng.sample(range(n_cases), len(big)), big, strict=True):
            sizes[index] = size
        normal = [i for i in range(n_cases) if sizes[i] == 1]
        extra = target - sum(sizes)
        if extra > 0 and normal:
            weights = [rng.expovariate(1.0) for _ in normal]
            for index in rng.choices(normal, weights=weights, k=extra):
                sizes[index] += 1
        return sizes

    def _customers(self, n: int) -> list[_Customer]:
        """Customer profiles across languages and channels; channel ids are unique."""
        rng = self.rng
        seen: set[str] = set()
        result: list[_Customer] = []
        for i in range(n):
            lang = rng.choices(corpus.LANGUAGES, corpus.LANGUAGE_WEIGHTS)[0]
            country = rng.choice(corpus.COUNTRIES[lang])
            channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            firsts, lasts = corpus.NAMES[lang]
            k_first, k_last = rng.randrange(len(firsts)), rng.randrange(len(lasts))
            first, last = firsts[k_first], lasts[k_last]
            name = f"{last}{first}" if lang == "zh" else f"{first} {last}"
            if lang in corpus.ROMAN_NAMES:
                roman_firsts, roman_lasts = corpus.ROMAN_NAMES[lang]
                handle_first, handle_last = roman_firsts[k_first], roman_lasts[k_last]
            else:
                handle_first, handle_last = _ascii(first), _ascii(last)
            email = f"{handle_first}.{handle_last}{i}@{rng.choice(corpus.EMAIL_DOMAINS)}"
            username = rng.choice((f"{handle_first}{handle_last}{rng.randrange(100)}", f"{handle_first}_{handle_last}"))
            username = f"{username}{i}" if username in seen else username
            channel_id = self._channel_id(channel, email)
            while channel_id in seen:
                channel_id = self._channel_id(channel, email)
            seen.update((channel_id, username))
            created = rng.randrange(self.begin - PROFILE_SPAN_DAYS * DAY_MS, self.begin)
            followers = min(5_000_000, int(rng.paretovariate(1.1) * 40))
            social: JSON = {
                "name": name,
                "username": email if channel == "WORKFLOW" else username,
                "channelType": channel,
                "channelId": channel_id,
                "permalink": self._permalink(channel, username, channel_id),
                "avatarUrl": f"{_MEDIA}/avatars/{rng.getrandbits(64):016x}.jpg",
                "followers": followers,
                "following": int(rng.paretovariate(1.5) * 60),
                "verified": followers > 100_000 or rng.random() < 0.01,
            }
            contact: JSON = {"fullName": name}
            if channel == "WORKFLOW" or rng.random() < 0.85:
                contact["email"] = email
            if rng.random() < 0.6:
                number = f"{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}"
                contact["phoneNo"] = f"+{corpus.DIAL_CODES[country]}{number}"
            profile: JSON = {
                "id": _object_id(rng, created),
                **social,
                "contact": contact,
                "createdTime": created,
                "modifiedTime": min(created + rng.randrange(0, 700 * DAY_MS), self.end - 1),
            }
            result.append(_Customer(profile, social, lang, country, first))
        return result

    def _channel_id(self, channel: str, email: str) -> str:
        """A native user id in the shape each network uses."""
        rng = self.rng
        if channel == "TWITTER":
            return str(rng.randrange(10**8, 10**19))
        if channel == "FACEBOOK":
            return str(rng.randrange(10**14, 10**16))
        if channel == "INSTAGRAM":
            return str(rng.randrange(10**16, 10**17))
        if channel == "LINKEDIN":
            return "ACoAA" + "".join(rng.choices(_ALNUM, k=20))
        if channel == "YOUTUBE":
            return "UC" + "".join(rng.choices(_ALNUM + "-_", k=22))
        if channel == "TIKTOK":
            return str(rng.randrange(6 * 10**18, 7 * 10**18))
        return email

    @staticmethod
    def _permalink(channel: str, username: str, channel_id: str) -> str:
        """The public profile URL on each network; e-mail contacts only have a mailto link."""
        return {
            "TWITTER": f"https://twitter.com/{username}",
            "FACEBOOK": f"https://www.facebook.com/{channel_id}",
            "INSTAGRAM": f"https://www.instagram.com/{username}",
            "LINKEDIN": f"https://www.linkedin.com/in/{username}",
            "YOUTUBE": f"https://www.youtube.com/channel/{channel_id}",
            "TIKTOK": f"https://www.tiktok.com/@{username}",
        }.get(channel, f"mailto:{channel_id}")

    def _account(self, brand: Brand, channel: str) -> _Account:
        """A brand's own account on a channel, verified and widely followed."""
        rng = self.rng
        channel_id = self._channel_id(channel, f"support@{brand.domain}")
        profile: JSON = {
            "name": f"{brand.name} Support",
            "username": f"support@{brand.domain}" if channel == "WORKFLOW" else brand.handle,
            "channelType": channel,
            "channelId": channel_id,
            "permalink": self._permalink(channel, brand.handle, channel_id),
            "avatarUrl": f"{_MEDIA}/brands/{brand.order_prefix.lower()}.png",
            "followers": rng.randrange(50_000, 3_000_000),
            "following": rng.randrange(10, 900),
            "verified": True,
        }
        return _Account(str(rng.randrange(600_000_000, 700_000_000)), profile)

    # -- one case ---------------------------------------------------------------------------------------------------

    def _case(
        self,
        number: int,
        start: int,
        size: int,
        customer: _Customer,
        specials: dict[str, set[int]],
        index: int,
        highlights: dict[str, set[int]],
        planned: tuple[Brand, str, str] | None = None,
    ) -> tuple[JSON, list[JSON]]:
        """One case and its conversation, with the case's fields derived from how the conversation went.

        A planned case has its brand, status and priority given, and a conversation that fits the status.
        """
        rng = self.rng
        brand = rng.choice(corpus.BRANDS)
        if planned is not None:
            brand = planned[0]
        topic = rng.choices(corpus.TOPICS, corpus.TOPIC_WEIGHTS)[0]
        lang, channel = customer.lang, customer.profile["channelType"]
        phrases = corpus.PHRASES[lang]
        agent_name, agent_id = rng.choice(self.agents)
        ctx = self._context(brand, customer, agent_name, start)

        # Who speaks when: the customer opens, then turns mostly alternate, with the odd double message.
        senders = [False]
        for _ in range(size - 1):
            previous = senders[-1]
            senders.append(rng.random() < 0.75 if not previous else rng.random() < 0.2)
        # A case nobody has answered yet is New; the rest are somewhere along the way.
        status = rng.choices(("Open", "Pending", "Closed"), (30, 20, 50))[0] if any(senders) else "New"
        if planned is not None:
            status = planned[1] if size >= MIN_MESSAGES[planned[1]] else "New"
            if status == "New":
                senders = [False] * size
            elif status == "Open":
                # Answered once, then the customer wrote again: the case waits on the brand.
                senders[-1] = False
                if not any(senders):
                    senders[1] = True
            elif not any(senders):
                senders[-1] = True
        if status == "Pending":
            senders[-1] = True

        big = size >= 300
        if big:
            highlights["large"].add(number)
        conversation = self._conversation(
            customer,
            brand,
            channel,
            lang,
            topic,
            phrases,
            ctx,
            senders,
            status,
            start,
            big,
            inject=index in specials["injection"],
        )
        for flag in self.flags:
            highlights[flag].add(number)
        first, last = conversation[0], conversation[-1]
        created = first["createdTime"] + rng.randrange(1000, 30_000)
        last_customer = max((m["createdTime"] for m in conversation if not m["brandPost"]), default=created)
        priority = rng.choices(
            ("Low", "Medium", "High", "Urgent"), (25, 50, 20, 5) if topic != "outage" else (5, 35, 40, 20)
        )[0]
        if planned is not None:
            priority = planned[2]
        case_type = "Task" if rng.random() < 0.05 else rng.choice(TOPIC_CASE_TYPES[topic])
        subject = rng.choice(phrases.subjects[topic]).format_map(ctx)
        description = first["content"].get("text", "") or subject
        if index in specials["long"]:
            description = self._long_description(description, start)
            highlights["longDescription"].add(number)
        deleted = index in specials["deleted"]
        if deleted:
            highlights["deleted"].add(number)
        sentiment_weights = (20, 40, 40) if status == "Closed" else (50, 40, 10)
        assignment_time = min(created + rng.randrange(30_000, 3_600_000), self.end - 1)
        country = customer.country if rng.random() < 0.9 else corpus.COUNTRY_NAMES[customer.country]
        custom: JSON = {
            "spr_uc_status": [status],
            "spr_uc_priority": [priority],
            "spr_uc_type": [case_type],
            BRAND_FIELD: [brand.name],
            LANGUAGE_FIELD: [lang],
            COUNTRY_FIELD: [country],
        }
        if rng.random() < 0.7:
            custom[TIER_FIELD] = [rng.choice(("Gold", "Silver", "Bronze"))]
        if priority in ("High", "Urgent") and rng.random() < 0.5:
            custom[ESCALATED_FIELD] = ["true"]
        queues = [{"queueId": QUEUES[TOPIC_QUEUE[topic]], "assignmentTime": assignment_time}]
        if ESCALATED_FIELD in custom:
            queues.append({"queueId": QUEUES["Escalations"], "assignmentTime": assignment_time + 600_000})
        workflow: JSON = {"customProperties": custom, "queues": queues}
        if status != "New" or rng.random() < 0.5:
            bot = rng.random() < 0.12
            assignee_id = rng.choice(self.bots)[1] if bot else agent_id
            workflow = {
                "assignment": {
                    "assigneeId": assignee_id,
                    "assigneeType": "BOT" if bot else "USER",
                    "assignedById": rng.choice(self.agents)[1],
                    "assignmentTime": assignment_time,
                },
                **workflow,
            }
        case: JSON = {
            "id": _object_id(rng, created),
            "caseNumber": number,
            "subject": subject,
            "description": description,
            "status": status,
            "priority": priority,
            "caseType": case_type,
            "createdTime": created,
            "modifiedTime": min(max(created, last["modifiedTime"]) + rng.randrange(0, 2 * DAY_MS), self.end - 1),
            "dueDate": created + rng.choice((1, 2, 3, 7)) * 86_400_000,
            "firstMessageId": first["messageId"],
            "sentiment": rng.choices((-1, 0, 1), sentiment_weights)[0],
            "version": rng.randrange(1, 4) + len(conversation) // 4,
            "deleted": deleted,
            "workflow": workflow,
            "contact": {
                "id": customer.profile["id"],
                "name": customer.profile["name"],
                "channelType": channel,
                "channelId": customer.profile["channelId"],
            },
            "firstMessageAssociatedTime": first["createdTime"],
            "latestMessageAssociatedTime": last["createdTime"],
            "latestProfileMessageAssociatedTime": last_customer,
        }
        if status == "Closed" and rng.random() < 0.4:
            case["summary"] = rng.choice(corpus.SUMMARIES).format(topic=topic)
        if rng.random() < 0.15:
            system = rng.choice(("salesforce", "zendesk", "rightnow"))
            external_created = min(created + rng.randrange(60_000, DAY_MS), self.end - 1)
            case["externalCase"] = {
                "id": f"5003h{rng.getrandbits(40):010X}"
                if system == "salesforce"
                else str(rng.randrange(10**5, 10**7)),
                "caseNumber": rng.randrange(100_000, 9_999_999),
                "channelType": system,
                "permalink": f"https://{system}.example/cases/{rng.randrange(10**6, 10**7)}",
                "createdTime": external_created,
                "modifiedTime": min(external_created + rng.randrange(0, 10 * DAY_MS), self.end - 1),
            }
            highlights["external"].add(number)
        return case, conversation

    def _context(self, brand: Brand, customer: _Customer, agent: str, start: int) -> dict[str, str]:
        """The values a case's phrases are filled in with."""
        rng = self.rng
        lang, country = customer.lang, customer.country
        value = rng.randrange(999, 49999) / 100
        if lang == "zh":
            amount = f"¥{int(value * 7)}"
        elif lang == "ar":
            amount = f"{int(value * 4)} د.إ"
        elif country == "BR":
            amount = f"R$ {value * 5:.2f}".replace(".", ",")
        elif lang == "en":
            amount = f"£{value:.2f}" if country == "GB" else f"${value:.2f}"
        else:
            amount = f"{value:.2f} €".replace(".", ",")
        day = dt.datetime.fromtimestamp((start - rng.randrange(0, 10) * 86_400_000) / 1000, tz=dt.UTC)
        date = f"{day:%B} {day.day}" if lang == "en" else f"{day:%d/%m/%Y}"
        email = customer.profile["contact"].get("email", f"{_ascii(customer.first_name) or 'user'}@example.com")
        user, _, domain = email.partition("@")
        agent_first = agent.split()[0]
        return {
            "brand": brand.name,
            "handle": brand.handle,
            "domain": brand.domain,
            "app": brand.app,
            "product": rng.choice(brand.products),
            "order": f"{brand.order_prefix}-{rng.randrange(1_000_000, 9_999_999)}",
            "invoice": f"INV-{day.year}-{rng.randrange(1, 999_999):06d}",
            "ticket": "REF-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=6)),
            "amount": amount,
            "last4": f"{rng.randrange(10_000):04d}",
            "date": date,
            "city": rng.choice(corpus.CITIES[lang]),
            "postcode": str(rng.randrange(10_000, 99_999)),
            "hours": str(rng.randrange(2, 72)),
            "email_masked": f"{user[0]}***{user[-1]}@{domain}",
            "first_name": customer.first_name,
            "username": customer.profile["username"],
            "agent_first": agent_first,
            "initials": "".join(part[0] for part in agent.split()),
        }

    def _conversation(
        self,
        customer: _Customer,
        brand: Brand,
        channel: str,
        lang: str,
        topic: str,
        phrases: Phrases,
        ctx: dict[str, str],
        senders: list[bool],
        status: str,
        start: int,
        big: bool,
        *,
        inject: bool,
    ) -> list[JSON]:
        """The messages of one case, oldest first, each replying to the one before."""
        rng = self.rng
        self.flags = {"rtl"} if lang == "ar" else set()
        account = self.accounts[(brand.name, channel)]
        public_in, public_out, private_in, private_out = MESSAGE_TYPES[channel]
        if channel in ("TWITTER", "FACEBOOK", "INSTAGRAM"):
            mode = rng.choices(("public", "private", "public_then_private"), (25, 45, 30))[0]
        else:
            mode = "private" if channel == "TIKTOK" and rng.random() < 0.3 else "public"
        listening = channel in ("TWITTER", "INSTAGRAM", "TIKTOK") and mode != "private" and rng.random() < 0.15
        custom = {BRAND_FIELD: [brand.name], LANGUAGE_FIELD: [lang], COUNTRY_FIELD: [customer.country]}
        workflow = {"customProperties": custom}
        # Long threads are live chats: quick turns, so 450 messages span days rather than a year.
        pace = 0.08 if big else 1.0
        inject_at = rng.randrange(len(senders)) if inject else -1
        if inject_at >= 0 and senders[inject_at]:
            inject_at = senders.index(False)
        gaps = self._gaps(senders, pace, start)
        messages: list[JSON] = []
        seen_agent = False
        t = start
        root = ""
        for j, from_brand in enumerate(senders):
            t += gaps[j]
            last = j == len(senders) - 1
            if from_brand:
                if last and status == "Closed":
                    text = rng.choice(phrases.agent_close)
                elif last and status == "Pending":
                    text = rng.choice(phrases.agent_pending)
                elif not seen_agent:
                    text = rng.choice(phrases.agent_open)
                else:
                    bank = phrases.agent_topic[topic] if phrases.agent_topic[topic] and rng.random() < 0.5 else None
                    text = rng.choice(bank or phrases.agent_generic + phrases.agent_pending)
                seen_agent = True
            elif j == 0:
                text = rng.choice(phrases.openers[topic])
            elif last and status == "Closed":
                text = rng.choice(phrases.customer_close)
            else:
                topical = phrases.customer_topic[topic]
                text = rng.choice(topical if topical and rng.random() < 0.4 else phrases.customer_generic)
                if rng.random() < 0.25:
                    text = f"{text} {rng.choice(phrases.customer_generic)}"
            text = text.format_map(ctx)
            public = mode == "public" or (mode == "public_then_private" and j < 2)
            if public and channel == "TWITTER":
                text = f"@{ctx['username'] if from_brand else brand.handle} {text}"
            title = None
            if channel == "WORKFLOW":
                title = ("Re: " if j else "") + rng.choice(phrases.subjects[topic]).format_map(ctx)
            elif channel == "YOUTUBE" and j == 0:
                title = f"{brand.name} - {ctx['product']} review"
            if not from_brand:
                text = self._decorate(text, channel, lang, injected=j == inject_at)
            elif channel == "WORKFLOW" and rng.random() < 0.5:
                text = f"<p>{text}</p><p>--<br/>{brand.name} Customer Care</p>"
            content: JSON = {"text": text}
            if title:
                content["title"] = title
            attachment = self._attachment(from_brand, brand)
            if attachment:
                content["attachment"] = attachment
                if not from_brand and not self.attacked and rng.random() < 0.1:
                    content["text"] = ""  # a photo sent on its own
            message_type = (
                (public_out if from_brand else public_in) if public else (private_out if from_brand else private_in)
            )
            source_type, source_id = "ACCOUNT", account.source_id
            if j == 0 and listening:
                source_type = rng.choice(("LISTENING", "PERSISTENT_SEARCH"))
                source_id = rng.choice(self.listening_ids)
            message_id = f"{source_type}_{source_id}_{t}_{channel}_{message_type}_{self._native_id(channel, account)}"
            created = t + rng.randrange(300, 8000)
            sentiment = rng.choices((-1, 0, 1), (10, 60, 30) if from_brand else (45, 40, 15))[0]
            message: JSON = {
                "messageId": message_id,
                "sourceType": source_type,
                "sourceId": source_id,
                "content": content,
                "channelType": channel,
                "channelCreatedTime": t,
                "createdTime": created,
                "modifiedTime": min(
                    created + (rng.randrange(1000, 3_600_000) if rng.random() < 0.1 else 0), self.end - 1
                ),
                "brandPost": from_brand,
                "language": lang,
                "senderProfile": account.profile if from_brand else customer.social,
                "receiverProfile": customer.social if from_brand else account.profile,
                "enrichments": {"sentiment": sentiment},
                "workflow": workflow,
                "conversationMessageId": root or message_id,
            }
            if messages:
                message["parentMessageId"] = messages[-1]["messageId"]
            root = root or message_id
            messages.append(message)
        return messages

    def _gaps(self, senders: list[bool], pace: float, start: int) -> list[int]:
        """Milliseconds before each message (0 for the first), squeezed so that the last one comes before the end."""
        rng = self.rng
        gaps = [0]
        for j in range(1, len(senders)):
            if senders[j] != senders[j - 1]:
                mean = 5400 if senders[j] else 10800
                gap = 60 + rng.expovariate(1 / mean) * pace
            else:
                gap = 20 + rng.random() * 600 * pace
            gaps.append(int(gap * 1000) + rng.randrange(1, 1000))
        # Room for the last message's Sprinklr time (up to 8 s after the channel's) and the case's own stamps.
        room = self.end - 70_000 - start
        total = sum(gaps)
        if total > room:
            # Every gap stays at least 1 ms: each message of a case has its own time, which the cursor relies on.
            gaps = [0] + [max(1, gap * room // total) for gap in gaps[1:]]
        return gaps

    def _decorate(self, text: str, channel: str, lang: str, *, injected: bool) -> str:
        """Add what real customer text carries: emoji, markup, invisible characters, other scripts, and attacks."""
        rng = self.rng
        # Characters at the start that later steps may cut into: not an attack, which must stay whole to be found.
        plain = len(text)
        self.attacked = False
        if injected or rng.random() < 0.01:
            self.attacked = True
            attack = rng.choice(corpus.INJECTIONS)
            text = f"{text}\n\n{attack}" if rng.random() < 0.6 else attack
            plain = len(text) - len(attack)
            self.flags.add("injection")
        if rng.random() < 0.15:
            text = f"{text} {rng.choice(corpus.EMOJI)}"
        if lang == "en" and rng.random() < 0.005:
            text = f"{text} {rng.choice(corpus.HEBREW)}"
            self.flags.add("rtl")
        if rng.random() < 0.02 and plain > 4:
            cut = rng.randrange(1, plain - 1)
            text = f"{text[:cut]}\u200b{text[cut:]}"
            self.flags.add("invisibleChars")
            if rng.random() < 0.4:
                text = f"{text} invoice\u202efdp.exe\u202c"
        if rng.random() < (0.4 if channel == "WORKFLOW" else 0.02):
            text = rng.choice(corpus.HTML_WRAPPERS).replace("{text}", text)
            self.flags.add("html")
        return text

    def _attachment(self, from_brand: bool, brand: Brand) -> JSON | None:
        """Sometimes a customer sends a file or an agent links a help article."""
        rng = self.rng
        if from_brand:
            if rng.random() < 0.05:
                url = f"https://help.{brand.domain}/articles/{rng.randrange(1000, 9999)}"
                return {"url": url, "type": "LINK", "previewUrl": f"{_MEDIA}/previews/{rng.getrandbits(48):012x}.png"}
            return None
        if rng.random() >= 0.06:
            return None
        kind, ext, _ = rng.choices(ATTACHMENTS, [w for _, _, w in ATTACHMENTS])[0]
        name = f"{rng.getrandbits(64):016x}"
        return {
            "url": f"{_MEDIA}/attachments/{name}.{ext}",
            "type": kind,
            "previewUrl": f"{_MEDIA}/previews/{name}.jpg",
        }

    def _native_id(self, channel: str, account: _Account) -> str:
        """The message's id on its own network, the last part of a Sprinklr message id."""
        rng = self.rng
        if channel == "TWITTER":
            return str(rng.randrange(10**18, 2 * 10**18))
        if channel == "FACEBOOK":
            # Facebook ids are page-scoped "pageId_postId"; clients must not split message ids on every "_".
            return f"{account.profile['channelId']}_{rng.randrange(10**15, 10**16)}"
        if channel == "INSTAGRAM":
            return str(rng.randrange(17 * 10**15, 18 * 10**15))
        if channel in ("LINKEDIN", "TIKTOK"):
            return str(rng.randrange(7 * 10**18, 8 * 10**18))
        if channel == "YOUTUBE":
            return "Ug" + "".join(rng.choices(_ALNUM, k=24))
        return f"{rng.getrandbits(96):024x}"

    def _long_description(self, opening: str, start: int) -> str:
        """A description with a pasted log, well over 5,000 characters, as customers on e-mail do."""
        rng = self.rng
        parts = [opening, "", "Steps I already tried:", "1. Restarted everything", "2. Reinstalled the app", "", "Log:"]
        t = start
        while sum(len(p) + 1 for p in parts) < 5600:
            t += rng.randrange(200, 5000)
            stamp = dt.datetime.fromtimestamp(t / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            parts.append(
                corpus.LOG_LINE.format(
                    ts=stamp,
                    service=rng.choice(corpus.SERVICES),
                    request_id=f"{rng.getrandbits(64):016x}",
                    n=rng.randrange(1, 6),
                    ms=rng.randrange(30, 30000),
                )
            )
        parts.append("")
        parts.append("Please escalate, this has been going on for days.")
        return "\n".join(parts)
