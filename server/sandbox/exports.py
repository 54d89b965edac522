"""A Sparkcentral export set for the sandbox: the history a team had before it moved to Sprinklr.

It covers the year before the Sprinklr dataset's first case, for some of the same customers (same emails, phones
and handles, so cross-system lookups find something) and some who never reached Sprinklr. It has what real export
sets have: the documented headers, SFTP folders and one file dropped flat, a UTF-8 BOM, an Excel-saved cp1252 file,
a file with reordered and re-cased headers, multi-line messages, a Twitter message export without content, and a few
malformed rows. Rows are streamed to disk as they are made, so the benchmark can write a million messages with it.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ORG_ID = "4711"
DAY_MS = 86_400_000

CONVERSATION_HEADERS = (
    "Conversation ID",
    "Medium",
    "Channel",
    "Channel Display Name",
    "Contact Profile ID",
    "Contact Primary identifier",
    "Contact Secondary identifier",
    "Created at (Date / Time)",
    "Last Status Change Agent ID",
    "Last Status Change Agent Name",
    "Last Status Change Agent Reference",
    "Last Status Change Team ID",
    "Last Status Change Team Name",
    "Current Status",
    "Resolved By",
    "Resolve Reason",
    "Resolve Comment",
    "Resolve Trigger",
    "Resolved At (Date / Time)",
    "Resolved Agent ID",
    "Resolved Agent Name",
    "Resolved Agent Reference",
    "Number of Inbound Messages",
    "Number of Outbound Messages",
    "First Response Time (s)",
    "Handle Time (s)",
    "No-Reply Time (s)",
    "Cherry-Picking Time (s)",
    "Resolution Time (s)",
    "Topic IDs",
    "Topic Names",
    "Conversation URL",
    "Last Updated",
    "Language",
    "CSAT Score",
    "CSAT Completed Status",
    "CSAT Follow-up Question",
    "CSAT Follow-up Answer",
)
MESSAGE_HEADERS = (
    "Message ID",
    "Created at (Date / Time)",
    "Conversation ID",
    "Medium",
    "Channel",
    "Channel Display Name",
    "Contact Profile ID",
    "Contact Primary Identifier",
    "Contact Secondary identifier",
    "Message Type",
    "Origin",
    "Outbound Message Type",
    "Direction",
    "Agent ID",
    "Agent Name",
    "Agent Reference",
    "Team ID",
    "Team Name",
    "Tag IDs",
    "Tag Names",
    "Content",
    "Conversation URL",
    "Post URL",
    "Last Updated",
    "Deleted at",
)
RESPONSE_HEADERS = (
    "Conversation ID",
    "Medium",
    "Sender Channel",
    "Sender Channel Display Name",
    "Contact Profile ID",
    "Started By",
    "Handover Reason",
    "From",
    "To",
    "Agent Response Time (s)",
    "Replying Agent ID",
    "Replying Agent Name",
    "Replying Agent Reference",
    "Inbound Message ID",
    "Outbound Message ID",
    "Conversation URL",
)
CONTACT_HEADERS = (
    "Contact Profile ID",
    "Medium",
    "Primary identifier",
    "Secondary identifier",
    "Created At",
    "Number of Conversations",
    "Number of Inbound Messages",
    "Number of Outbound Messages",
    "Last Updated",
)
ATTRIBUTE_HEADERS = (
    "Contact Profile ID",
    "Contact Primary Identifier",
    "Contact Secondary Identifier",
    "Attribute ID",
    "Attribute Name",
    "Attribute Value",
    "Attribute Type",
)
TEAM_HEADERS = (
    "Created At",
    "Team ID",
    "Team Name",
    "Resolves With Reply",
    "Resolves without Reply",
    "Avg. First Response Time (s)",
    "Avg. Resolution Time (s)",
    "Contacts Helped",
)
USER_HEADERS = ("Created At", "User ID", "User  Name", "User Email Address", "User Reference", "Replies")
TOPIC_HEADERS = ("Topic ID", "Topic Name", "Total Conversations", "Total Current Conversations", "Medium", "Channel")
TAG_HEADERS = ("Tag ID", "Tag Name", "Total Contacts", "Total Messages", "Total Current Messages", "Medium")
PRESENCE_HEADERS = ("User ID", "User Name", "User Email Address", "Type", "Away State", "From", "To", "Duration (s)")

TEAMS = (("t-100", "Tier 1"), ("t-200", "Billing"), ("t-300", "Social Care"), ("t-400", "Escalations"))
AGENTS = (
    ("Maya", "Chen"),
    ("Tom", "Becker"),
    ("Aisha", "Khan"),
    ("Carlos", "Ruiz"),
    ("Hannah", "Ito"),
    ("Omar", "Haddad"),
    ("Julia", "Santos"),
    ("Ben", "Okafor"),
    ("Zoë", "Dubois"),
    ("José", "Núñez"),
    ("Sara", "Lindqvist"),
    ("Kenji", "Mori"),
)
TOPICS = ("Delivery", "Refund", "Login", "Billing", "Outage", "Product question")
TAGS = ("urgent", "vip", "follow-up", "complaint", "praise")
RESOLVE_REASONS = ("Solved", "Solved", "Solved", "No response", "Duplicate", "Escalated")
CHANNELS = {
    "Email": "support@acme.example",
    "SMS": "Acme SMS",
    "WhatsApp": "Acme WhatsApp",
    "Twitter": "@AcmeHelp",
    "Facebook": "Acme Mobile",
    "Instagram": "acme.mobile",
}
LANGUAGES = ("English",) * 7 + ("Spanish", "French", "German")

INBOUND = (
    "Hi, my order {order} still hasn't arrived. Tracking says it left the warehouse last week.",
    "I was charged twice for my subscription this month, {amount} each time. Please refund one.",
    "I can't log in to the app, it keeps saying my password is wrong even after a reset.",
    "The service has been down in {city} since this morning, nothing loads.",
    "Is the {product} compatible with my old charger?",
    "Still waiting for the refund of {amount} for order {order}...",
    "Thanks, that worked!",
    "Any update on this? It's been three days.",
    "Hola, mi pedido {order} no ha llegado todavía.",
    "Bonjour, je n'arrive pas à me connecter à mon compte.",
    "Hallo, meine Rechnung für diesen Monat ist falsch.",
)
OUTBOUND = (
    "Hi {first},\n\nthanks for reaching out. I've checked order {order}: it is with the courier and should arrive "
    "within two days.\n\nBest,\n{agent}",
    "Sorry about the double charge, {first}. I've refunded {amount}; it shows on your statement in 3-5 days.",
    "Could you try signing out everywhere and resetting the password again? Let me know if it still fails.",
    "We're aware of the outage in {city} and engineers are on it. I'll update you here as soon as it's fixed.",
    "Yes, the {product} works with any USB-C charger of 20 W or more.",
    "Happy to help! Is there anything else I can do for you?",
    "I've escalated this to our billing team, {first}.\nReference: {ticket}.\nYou'll hear from us within 24 hours.",
)
PRODUCTS = ("Acme X5 phone", "Unlimited Plus plan", "home broadband router", "eSIM")
CITIES = ("Austin", "Manchester", "Toronto", "Dublin", "Madrid", "Lyon", "Berlin")


@dataclass(frozen=True, slots=True)
class ArchiveCustomer:
    """A customer as Sparkcentral knew them: contact profile id, medium and identifiers."""

    contact_id: str
    name: str
    medium: str
    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    sprinklr_profile_id: str | None = None

    @property
    def identifiers(self) -> tuple[str, str]:
        """(primary, secondary) identifier as the exports show them for this medium."""
        if self.medium == "Email":
            return self.email or self.name, self.name
        if self.medium in ("SMS", "WhatsApp"):
            return self.phone or self.name, self.name
        if self.medium == "Twitter":
            return f"@{self.handle}", self.name
        if self.medium == "Instagram":
            return self.handle or self.name, self.name
        return self.name, self.contact_id[-12:]


@dataclass
class ExportCounts:
    """What was written: valid rows per export type, malformed rows planted, and sample identifiers."""

    rows: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    files: int = 0
    first_ms: int = 0
    last_ms: int = 0
    sample_emails: list[str] = field(default_factory=list)
    sample_phones: list[str] = field(default_factory=list)
    sample_handles: list[str] = field(default_factory=list)
    shared_customers: int = 0
    twitter_messages: int = 0

    def add(self, kind: str, n: int = 1) -> None:
        """Count valid rows of an export type."""
        self.rows[kind] = self.rows.get(kind, 0) + n


def customers_from_profiles(
    profiles: Sequence[dict[str, Any]], rng: random.Random, *, shared: float = 0.5, extra: int | None = None
) -> list[ArchiveCustomer]:
    """Archive customers: a share of the Sprinklr profiles (same identifiers) plus some who never reached Sprinklr."""
    result: list[ArchiveCustomer] = []
    for profile in profiles:
        if rng.random() >= shared:
            continue
        contact = profile.get("contact", {})
        email, phone = contact.get("email"), contact.get("phoneNo")
        channel, handle = profile.get("channelType"), profile.get("username")
        if channel in ("TWITTER", "INSTAGRAM") and handle and "@" not in handle:
            medium = "Twitter" if channel == "TWITTER" else "Instagram"
        elif email and (not phone or rng.random() < 0.6):
            medium = "Email"
        elif phone:
            medium = rng.choice(("SMS", "WhatsApp"))
        else:
            medium = "Facebook"
        result.append(
            ArchiveCustomer(
                _id(rng, "cp-"),
                str(profile.get("name") or contact.get("fullName") or "Customer"),
                medium,
                email,
                phone,
                handle if medium in ("Twitter", "Instagram") else None,
                str(profile.get("id")),
            )
        )
    result.extend(synthetic_customers(rng, extra if extra is not None else max(20, len(result))))
    return result


def synthetic_customers(rng: random.Random, n: int) -> list[ArchiveCustomer]:
    """Customers who only ever wrote to Sparkcentral."""
    firsts = ("Alex", "Jamie", "Priya", "Lucas", "Mia", "Noah", "Emma", "Yusuf", "Chloé", "Mateo", "Ingrid", "Wei")
    lasts = ("Smith", "García", "Müller", "Rossi", "Dubois", "Kowalski", "Nakamura", "O'Brien", "Silva", "Novak")
    out = []
    for i in range(n):
        first, last = rng.choice(firsts), rng.choice(lasts)
        handle = f"{first.lower()}{last.lower()}{i}".encode("ascii", "ignore").decode().replace("'", "")
        medium = rng.choice(("Email", "Email", "SMS", "WhatsApp", "Twitter", "Facebook", "Instagram"))
        out.append(
            ArchiveCustomer(
                _id(rng, "cp-"),
                f"{first} {last}",
                medium,
                email=f"{handle}@archive.example",
                phone=f"+1{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}",
                handle=handle,
            )
        )
    return out


def _id(rng: random.Random, prefix: str = "") -> str:
    bits = f"{rng.getrandbits(128):032x}"
    return f"{prefix}{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"


def stamp(epoch_ms: int) -> str:
    """Epoch ms as the exports write time: 'Year-Month-Day HH:MM:SS.MS' (UTC here)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{epoch_ms % 1000:03d}"


def _file_stamp(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d%m%Y%H%M%S")


class _Files:
    """CSV writers opened on demand, one per (folder, period), closed together."""

    def __init__(self, root: Path, stack: ExitStack, counts: ExportCounts, rng: random.Random) -> None:
        self.root = root
        self.stack = stack
        self.counts = counts
        self.rng = rng
        self.writers: dict[tuple[str, str], Any] = {}

    def writer(
        self,
        kind: str,
        period: tuple[int, int],
        headers: Sequence[str],
        *,
        encoding: str = "utf-8",
        flat: bool = False,
        suffix: str = "",
    ) -> Any:
        key = (kind + suffix, f"{period[0]}")
        found = self.writers.get(key)
        if found is None:
            name = f"{ORG_ID}_{kind}_{_file_stamp(period[0])}_{_file_stamp(period[1])}_{_id(self.rng)}{suffix}.csv"
            folder = self.root if flat else self.root / kind
            folder.mkdir(parents=True, exist_ok=True)
            handle: IO[str] = self.stack.enter_context((folder / name).open("w", encoding=encoding, newline=""))
            found = csv.writer(handle)
            found.writerow(headers)
            self.writers[key] = found
            self.counts.files += 1
        return found


def write_exports(
    root: Path,
    customers: Sequence[ArchiveCustomer],
    *,
    until_ms: int,
    days: int = 365,
    conversations: int = 3000,
    messages_per_conversation: float = 10.0,
    seed: int = 7,
    hostile: bool = True,
) -> ExportCounts:
    """Write an export set under `root` for the `days` before `until_ms`; returns what was written."""
    rng = random.Random(seed)
    counts = ExportCounts(first_ms=until_ms - days * DAY_MS, last_ms=until_ms)
    start = counts.first_ms
    months = max(1, days // 30)
    period_ms = (until_ms - start) // months
    agents = [(f"u-{1000 + i}", f"{first} {last}", TEAMS[i % len(TEAMS)]) for i, (first, last) in enumerate(AGENTS)]
    times = sorted(rng.randrange(start, until_ms - DAY_MS) for _ in range(conversations))
    seen_contacts: dict[str, list[int]] = {}
    counts.shared_customers = sum(1 for c in customers if c.sprinklr_profile_id)
    for customer in customers:
        if customer.sprinklr_profile_id and len(counts.sample_emails) < 5 and customer.email:
            counts.sample_emails.append(customer.email)
        if customer.sprinklr_profile_id and customer.medium in ("SMS", "WhatsApp") and len(counts.sample_phones) < 5:
            counts.sample_phones.append(customer.phone or "")
        if customer.medium == "Twitter" and customer.handle and len(counts.sample_handles) < 5:
            counts.sample_handles.append(customer.handle)
    with ExitStack() as stack:
        files = _Files(root, stack, counts, rng)
        bad_left = {"message": 3, "resolved-conversation": 1} if hostile else {}
        for number, created in enumerate(times):
            period_index = min(months - 1, (created - start) // period_ms)
            period = (start + period_index * period_ms, start + (period_index + 1) * period_ms)
            customer = customers[rng.randrange(len(customers))]
            open_now = created > until_ms - 20 * DAY_MS and rng.random() < 0.3
            conversation = _conversation(rng, customer, created, agents, messages_per_conversation, open_now)
            stats = seen_contacts.setdefault(customer.contact_id, [0, 0, 0, created])
            stats[0] += 1
            _write_messages(files, conversation, customer, period, counts, bad_left, hostile)
            for row in conversation["responses"]:
                files.writer("response-times", (start, until_ms), RESPONSE_HEADERS).writerow(row)
                counts.add("response-times")
            row = _conversation_row(conversation, customer)
            stats[1] += conversation["inbound"]
            stats[2] += conversation["outbound"]
            if open_now:
                # The open-conversation export was saved from a tool that reordered and re-cased its columns.
                headers = [h.lower() for h in reversed(CONVERSATION_HEADERS[:34])] if hostile else CONVERSATION_HEADERS
                writer = files.writer("open-conversation", (until_ms - DAY_MS, until_ms), headers)
                writer.writerow(list(reversed(row[:34])) if hostile else row)
                counts.add("open-conversation")
            else:
                writer = files.writer("resolved-conversation", period, CONVERSATION_HEADERS)
                if bad_left.get("resolved-conversation") and number % 97 == 5:
                    bad_left["resolved-conversation"] -= 1
                    broken = list(row)
                    broken[0] = _id(rng, "cv-")
                    broken[7] = "31/02/2024 25:61"  # not a time the exports write
                    writer.writerow(broken)
                    counts.malformed += 1
                writer.writerow(row)
                counts.add("resolved-conversation")
        _write_catalogues(files, customers, seen_contacts, agents, (start, until_ms), counts, rng, hostile)
    return counts


def _conversation(
    rng: random.Random,
    customer: ArchiveCustomer,
    created: int,
    agents: Sequence[tuple[str, str, tuple[str, str]]],
    per_conversation: float,
    open_now: bool,
) -> dict[str, Any]:
    """One conversation: its messages (in time order) and facts derived from them."""
    agent_id, agent_name, (team_id, team_name) = agents[rng.randrange(len(agents))]
    size = max(1, min(400, int(rng.expovariate(1 / per_conversation)) + 1))
    topics = rng.sample(TOPICS, 1 if rng.random() < 0.8 else 2)
    fill = {
        "order": f"#{rng.randrange(100000, 999999)}",
        "amount": f"${rng.randrange(5, 400)}.{rng.randrange(100):02d}",
        "city": rng.choice(CITIES),
        "product": rng.choice(PRODUCTS),
        "first": customer.name.split(" ")[0],
        "agent": agent_name,
        "ticket": f"BIL-{rng.randrange(10000, 99999)}",
    }
    when = created
    messages = []
    first_out: int | None = None
    first_in_id: str | None = None
    first_out_id: str | None = None
    inbound = outbound = 0
    for position in range(size):
        outbound_turn = position % 2 == 1 and rng.random() < 0.9
        when += rng.randrange(30_000, 4 * 3_600_000) if position else 0
        message_id = _id(rng, "m-")
        text = (rng.choice(OUTBOUND) if outbound_turn else rng.choice(INBOUND)).format(**fill)
        tags = rng.sample(TAGS, 1) if rng.random() < 0.15 else []
        messages.append((message_id, when, outbound_turn, text, tags))
        if outbound_turn:
            outbound += 1
            if first_out is None:
                first_out, first_out_id = when, message_id
        else:
            inbound += 1
            first_in_id = first_in_id or message_id
    responses = []
    url = f"https://app.sparkcentral.example/conversations/{rng.getrandbits(48):012x}"
    conversation_id = _id(rng, "cv-")
    if first_out is not None and first_out_id is not None:
        responses.append(
            [
                conversation_id,
                customer.medium,
                CHANNELS[customer.medium],
                CHANNELS[customer.medium],
                customer.contact_id,
                "NEW_CONVERSATION",
                "",
                stamp(created),
                stamp(first_out),
                f"{(first_out - created) / 1000:.1f}",
                agent_id,
                agent_name,
                agent_id.upper(),
                first_in_id or "",
                first_out_id,
                url,
            ]
        )
    resolved = None if open_now else when + rng.randrange(60_000, 2 * DAY_MS)
    csat = rng.choices((None, 1, 2, 3, 4, 5), (55, 3, 4, 8, 14, 16))[0] if resolved else None
    return {
        "id": conversation_id,
        "created": created,
        "agent": (agent_id, agent_name),
        "team": (team_id, team_name),
        "topics": topics,
        "messages": messages,
        "responses": responses,
        "inbound": inbound,
        "outbound": outbound,
        "first_response": None if first_out is None else (first_out - created) / 1000,
        "resolved": resolved,
        "updated": resolved or when,
        "csat": csat,
        "url": url,
        "language": rng.choice(LANGUAGES),
        "reason": rng.choice(RESOLVE_REASONS),
    }


def _write_messages(
    files: _Files,
    conversation: dict[str, Any],
    customer: ArchiveCustomer,
    period: tuple[int, int],
    counts: ExportCounts,
    bad_left: dict[str, int],
    hostile: bool,
) -> None:
    primary, secondary = customer.identifiers
    agent_id, agent_name = conversation["agent"]
    team_id, team_name = conversation["team"]
    twitter = customer.medium == "Twitter"
    first_period = period[0] == counts.first_ms
    for message_id, when, outbound, text, tags in conversation["messages"]:
        row = [
            message_id,
            stamp(when),
            conversation["id"],
            customer.medium,
            CHANNELS[customer.medium],
            CHANNELS[customer.medium],
            customer.contact_id,
            primary,
            secondary,
            "REPLY" if outbound else "MESSAGE",
            "Sparkcentral" if outbound else "Medium",
            "Reply" if outbound else "",
            "Outbound" if outbound else "Inbound",
            agent_id if outbound else "",
            agent_name if outbound else "",
            agent_id.upper() if outbound else "",
            team_id if outbound else "",
            team_name if outbound else "",
            ",".join(f"tg-{TAGS.index(t)}" for t in tags),
            ",".join(tags),
            text,
            conversation["url"],
            "",
            stamp(when),
            "",
        ]
        if twitter:
            # Scheduled exports leave Twitter content out (the reference says so): a file without the column.
            headers = [h for h in MESSAGE_HEADERS if h != "Content"]
            del row[20]
            files.writer("message", (counts.first_ms, counts.last_ms), headers, suffix="-twitter").writerow(row)
            counts.twitter_messages += 1
        else:
            # The first month's file went through a tool that wrote a UTF-8 BOM.
            encoding = "utf-8-sig" if first_period and hostile else "utf-8"
            writer = files.writer("message", period, MESSAGE_HEADERS, encoding=encoding)
            if hostile and bad_left.get("message") and first_period and outbound:
                bad_left["message"] -= 1
                _malformed_message(writer, row, bad_left["message"])
                counts.malformed += 1
            writer.writerow(row)
        counts.add("message")


def _malformed_message(writer: Any, row: list[str], which: int) -> None:
    """A row an export should never have: cut short, a broken time, or no message id."""
    broken = list(row)
    broken[0] = f"{row[0]}-bad"
    if which == 2:
        writer.writerow(broken[:9])
    elif which == 1:
        broken[1] = "yesterday at noon"
        writer.writerow(broken)
    else:
        broken[0] = ""
        writer.writerow(broken)


def _conversation_row(conversation: dict[str, Any], customer: ArchiveCustomer) -> list[str]:
    primary, secondary = customer.identifiers
    agent_id, agent_name = conversation["agent"]
    team_id, team_name = conversation["team"]
    resolved = conversation["resolved"]
    created = conversation["created"]
    csat = conversation["csat"]
    labels = {1: "1- Very unsatisfied", 2: "2- Unsatisfied", 3: "3- Neutral", 4: "4- Satisfied", 5: "5- Very satisfied"}
    return [
        conversation["id"],
        customer.medium,
        CHANNELS[customer.medium],
        CHANNELS[customer.medium],
        customer.contact_id,
        primary,
        secondary,
        stamp(created),
        agent_id,
        agent_name,
        agent_id.upper(),
        team_id,
        team_name,
        "Resolved" if resolved else "Pending",
        "Agent" if resolved else "",
        conversation["reason"] if resolved else "",
        "",
        "Resolve by Human Agent" if resolved else "",
        stamp(resolved) if resolved else "",
        agent_id if resolved else "",
        agent_name if resolved else "",
        agent_id.upper() if resolved else "",
        str(conversation["inbound"]),
        str(conversation["outbound"]),
        "" if conversation["first_response"] is None else f"{conversation['first_response']:.1f}",
        "",
        "",
        "",
        f"{(resolved - created) / 1000:.1f}" if resolved else "",
        ",".join(f"tp-{TOPICS.index(t)}" for t in conversation["topics"]),
        ",".join(conversation["topics"]),
        conversation["url"],
        stamp(conversation["updated"]),
        conversation["language"],
        labels[csat] if csat else "",
        "Successful" if csat else ("Customer did not respond" if resolved else ""),
        "What could we do better?" if csat and csat <= 2 else "",
        "Answer faster, please.\nAnd keep me posted." if csat and csat <= 2 else "",
    ]


def _write_catalogues(
    files: _Files,
    customers: Sequence[ArchiveCustomer],
    seen: dict[str, list[int]],
    agents: Sequence[tuple[str, str, tuple[str, str]]],
    period: tuple[int, int],
    counts: ExportCounts,
    rng: random.Random,
    hostile: bool,
) -> None:
    """Contacts, contact attributes (an Excel-saved cp1252 file), teams, users, topics, tags and presence."""
    for customer in customers:
        stats = seen.get(customer.contact_id)
        if stats is None:
            continue
        primary, secondary = customer.identifiers
        files.writer("contact", period, CONTACT_HEADERS).writerow(
            [
                customer.contact_id,
                customer.medium,
                primary,
                secondary,
                stamp(stats[3]),
                stats[0],
                stats[1],
                stats[2],
                stamp(period[1]),
            ]
        )
        counts.add("contact")
        attributes = files.writer(
            "contact-attribute", period, ATTRIBUTE_HEADERS, encoding="cp1252" if hostile else "utf-8"
        )
        values = [
            ("a-1", "Email", customer.email),
            ("a-2", "Phone", customer.phone),
            ("a-3", "Customer Tier", rng.choice(("Gold", "Silver", "Bronze"))),
            ("a-4", "Full name", customer.name),
        ]
        for attribute_id, name, value in values:
            if not value:
                continue
            text = value.encode("cp1252", "replace").decode("cp1252") if hostile else value
            attributes.writerow(
                [customer.contact_id, primary.encode("cp1252", "replace").decode("cp1252") if hostile else primary,
                 secondary.encode("cp1252", "replace").decode("cp1252") if hostile else secondary,
                 attribute_id, name, text, "Freeform"]
            )  # fmt: skip
            counts.add("contact-attribute")
    for team_id, team_name in TEAMS:
        files.writer("team", period, TEAM_HEADERS).writerow(
            [stamp(period[0]), team_id, team_name, rng.randrange(100, 900), rng.randrange(0, 50), "", "", ""]
        )
        counts.add("team")
    for agent_id, agent_name, _team in agents:
        email = agent_name.lower().replace(" ", ".").encode("ascii", "ignore").decode() + "@acme.example"
        files.writer("user", period, USER_HEADERS).writerow(
            [stamp(period[0]), agent_id, agent_name, email, agent_id.upper(), rng.randrange(100, 3000)]
        )
        counts.add("user")
        # Presence arrived as a file dropped flat in the export folder, with its documented name.
        files.writer("user-presence", period, PRESENCE_HEADERS, flat=True).writerow(
            [agent_id, agent_name, email, "Available", "", stamp(period[0]), stamp(period[0] + 8 * 3_600_000), 28800]
        )
        counts.add("user-presence")
    for index, topic in enumerate(TOPICS):
        files.writer("topic", period, TOPIC_HEADERS).writerow([f"tp-{index}", topic, 1, 1, "", ""])
        counts.add("topic")
    for index, tag in enumerate(TAGS):
        files.writer("tag", period, TAG_HEADERS).writerow([f"tg-{index}", tag, 1, 1, 1, ""])
        counts.add("tag")


def earliest_case_ms(cases: Sequence[dict[str, Any]]) -> int:
    """The Sprinklr dataset's first case creation time: the archive ends the day before it."""
    return min(int(case["createdTime"]) for case in cases)


def iter_rows(path: Path) -> Iterator[list[str]]:
    """Rows of a written CSV (tests read back what the generator wrote)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from csv.reader(handle)
