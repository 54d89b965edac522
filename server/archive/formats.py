"""The Sparkcentral export types: their documented headers, and how a file's type is recognised.

Headers are matched by name, never by position: lower-cased with everything but letters and digits removed, so
"Contact Primary identifier", "contact primary Identifier" and "Contact_Primary_Identifier" are one header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ExportType = Literal[
    "resolved-conversation",
    "open-conversation",
    "message",
    "contact",
    "contact-attribute",
    "response-times",
    "tag",
    "topic",
    "team",
    "user",
    "user-presence",
]
EXPORT_TYPES: tuple[ExportType, ...] = (
    "resolved-conversation",
    "open-conversation",
    "message",
    "contact",
    "contact-attribute",
    "response-times",
    "tag",
    "topic",
    "team",
    "user",
    "user-presence",
)

# How a column's text becomes a stored value.
# "clock" is a time that may be given without its date (the response-times export documents HH:MM:SS:MS): kept
# when it parses as a full timestamp, left empty when it does not, never a reason to skip the row.
Kind = Literal["text", "time", "clock", "int", "float", "csat"]


@dataclass(frozen=True, slots=True)
class Column:
    """One stored field: its name in our table, how it is parsed, and the header names it goes by."""

    name: str
    kind: Kind
    headers: tuple[str, ...]
    required: bool = False
    label: str = ""


def header_key(header: str) -> str:
    """A header name reduced to lower-case letters and digits (BOM, case, spaces and punctuation dropped)."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


def _c(name: str, kind: Kind, *headers: str, required: bool = False) -> Column:
    return Column(name, kind, tuple(header_key(h) for h in headers), required, headers[0])


_CONTACT = (
    _c("contact_id", "text", "Contact Profile ID"),
    _c("contact_primary", "text", "Contact Primary identifier", "Primary identifier"),
    _c("contact_secondary", "text", "Contact Secondary identifier", "Secondary identifier"),
)
_CHANNEL = (
    _c("medium", "text", "Medium"),
    _c("channel", "text", "Channel", "Sender Channel"),
    _c("channel_display", "text", "Channel Display Name", "Sender Channel Display Name"),
)

CONVERSATION = (
    _c("id", "text", "Conversation ID", required=True),
    *_CHANNEL,
    *_CONTACT,
    _c("created_ms", "time", "Created at (Date / Time)", "Created At", "Created"),
    _c("lsc_agent_id", "text", "Last Status Change Agent ID"),
    _c("lsc_agent_name", "text", "Last Status Change Agent Name"),
    _c("lsc_team_id", "text", "Last Status Change Team ID"),
    _c("lsc_team_name", "text", "Last Status Change Team Name"),
    _c("status", "text", "Current Status", "Status"),
    _c("resolved_by", "text", "Resolved By"),
    _c("resolve_reason", "text", "Resolve Reason"),
    _c("resolve_comment", "text", "Resolve Comment"),
    _c("resolve_trigger", "text", "Resolve Trigger"),
    _c("resolved_ms", "time", "Resolved At (Date / Time)", "Resolved At"),
    _c("resolved_agent_id", "text", "Resolved Agent ID", "Resolve Agent ID"),
    _c("resolved_agent_name", "text", "Resolved Agent Name", "Resolve Agent Name"),
    _c("inbound", "int", "Number of Inbound Messages"),
    _c("outbound", "int", "Number of Outbound Messages"),
    _c("first_response_s", "float", "First Response Time (s)", "First Response Time"),
    _c("handle_s", "float", "Handle Time (s)", "Handle Time"),
    _c("resolution_s", "float", "Resolution Time (s)", "Resolution Time"),
    _c("topic_ids", "text", "Topic IDs"),
    _c("topic_names", "text", "Topic Names", "Topics"),
    _c("url", "text", "Conversation URL"),
    _c("updated_ms", "time", "Last Updated"),
    _c("language", "text", "Language"),
    _c("csat", "csat", "CSAT Score", "CSAT"),
    _c("csat_status", "text", "CSAT Completed Status"),
    _c("csat_question", "text", "CSAT Follow-up Question"),
    _c("csat_answer", "text", "CSAT Follow-up Answer"),
)

# Only what the archive shows or searches is parsed: every cell picked costs time a million times over.
MESSAGE = (
    _c("id", "text", "Message ID", required=True),
    _c("created_ms", "time", "Created at (Date / Time)", "Created At", "Created", required=True),
    _c("conversation_id", "text", "Conversation ID", required=True),
    *_CHANNEL,
    *_CONTACT,
    _c("message_type", "text", "Message Type"),
    _c("direction", "text", "Direction"),
    _c("agent_id", "text", "Agent ID"),
    _c("agent_name", "text", "Agent Name"),
    _c("team_name", "text", "Team Name"),
    _c("tag_names", "text", "Tag Names", "Tags"),
    _c("content", "text", "Content", "Message Content"),
    _c("updated_ms", "time", "Last Updated"),
    _c("deleted_ms", "time", "Deleted at", "Deleted"),
)

RESPONSE_TIME = (
    _c("conversation_id", "text", "Conversation ID", required=True),
    _c("outbound_id", "text", "Outbound Message ID", required=True),
    _c("inbound_id", "text", "Inbound Message ID"),
    *_CHANNEL,
    _c("contact_id", "text", "Contact Profile ID"),
    _c("started_by", "text", "Started By"),
    _c("handover_reason", "text", "Handover Reason"),
    _c("from_ms", "clock", "From"),
    _c("to_ms", "clock", "To"),
    _c("response_s", "float", "Agent Response Time (s)", "Agent Response Time", "Response Time (s)"),
    _c("agent_id", "text", "Replying Agent ID"),
    _c("agent_name", "text", "Replying Agent Name"),
)

CONTACT = (
    _c("contact_id", "text", "Contact Profile ID", required=True),
    _c("medium", "text", "Medium"),
    _c("contact_primary", "text", "Primary identifier", "Contact Primary identifier"),
    _c("contact_secondary", "text", "Secondary identifier", "Contact Secondary identifier"),
    _c("created_ms", "time", "Created At"),
    _c("conversations", "int", "Number of Conversations"),
    _c("updated_ms", "time", "Last Updated"),
)

CONTACT_ATTRIBUTE = (
    _c("contact_id", "text", "Contact Profile ID", required=True),
    _c("contact_primary", "text", "Contact Primary Identifier", "Primary identifier"),
    _c("contact_secondary", "text", "Contact Secondary Identifier", "Secondary identifier"),
    _c("attribute_id", "text", "Attribute ID"),
    _c("attribute_name", "text", "Attribute Name", required=True),
    _c("value", "text", "Attribute Value"),
    _c("attribute_type", "text", "Attribute Type"),
)

# The catalogue exports (teams, users, topics, tags) and presence: an id, a name, and metrics kept as they come.
TEAM = (_c("id", "text", "Team ID", required=True), _c("name", "text", "Team Name"))
USER = (
    _c("id", "text", "User ID", required=True),
    _c("name", "text", "User Name"),
    _c("email", "text", "User Email Address"),
)
TOPIC = (_c("id", "text", "Topic ID", required=True), _c("name", "text", "Topic Name"))
TAG = (_c("id", "text", "Tag ID", required=True), _c("name", "text", "Tag Name"))
PRESENCE = (
    _c("user_id", "text", "User ID", required=True),
    _c("user_name", "text", "User Name"),
    _c("presence", "text", "Type"),
    _c("away_state", "text", "Away State"),
    _c("from_ms", "time", "From", required=True),
    _c("to_ms", "time", "To"),
    _c("duration_s", "float", "Duration (s)", "Duration"),
)

COLUMNS: dict[ExportType, tuple[Column, ...]] = {
    "resolved-conversation": CONVERSATION,
    "open-conversation": CONVERSATION,
    "message": MESSAGE,
    "contact": CONTACT,
    "contact-attribute": CONTACT_ATTRIBUTE,
    "response-times": RESPONSE_TIME,
    "tag": TAG,
    "topic": TOPIC,
    "team": TEAM,
    "user": USER,
    "user-presence": PRESENCE,
}

# Headers that only one export type has, to recognise a file by its header row when its name says nothing.
_SIGNATURE_HEADERS: tuple[tuple[ExportType, tuple[str, ...]], ...] = (
    ("resolved-conversation", ("Conversation ID", "Resolve Reason")),
    ("resolved-conversation", ("Conversation ID", "CSAT Score")),
    ("open-conversation", ("Conversation ID", "Current Status")),
    ("message", ("Message ID", "Conversation ID")),
    ("response-times", ("Conversation ID", "Outbound Message ID")),
    ("contact-attribute", ("Contact Profile ID", "Attribute Name")),
    ("contact", ("Contact Profile ID", "Number of Conversations")),
    ("user-presence", ("User ID", "From", "Type")),
    ("user", ("User ID", "Replies")),
    ("user", ("User ID", "User Reference")),
    ("team", ("Team ID", "Contacts Helped")),
    ("team", ("Team ID", "Resolves With Reply")),
    ("topic", ("Topic ID",)),
    ("tag", ("Tag ID",)),
)
_SIGNATURES = tuple((kind, frozenset(header_key(h) for h in headers)) for kind, headers in _SIGNATURE_HEADERS)

# Name fragments, longest first so that "contact-attribute" is not taken for "contact".
_NAME_WORDS: tuple[tuple[ExportType, str], ...] = (
    ("resolved-conversation", r"resolved-conversations?"),
    ("open-conversation", r"open-conversations?"),
    ("contact-attribute", r"contact-attributes?"),
    ("response-times", r"response-times?"),
    ("user-presence", r"user-presences?"),
    ("message", r"messages?"),
    ("contact", r"contacts?"),
    ("topic", r"topics?"),
    ("team", r"teams?"),
    ("tag", r"tags?"),
    ("user", r"users?"),
)
_NAME_PATTERNS = tuple((kind, re.compile(rf"(?<![a-z]){pattern}(?![a-z])")) for kind, pattern in _NAME_WORDS)


def _words(name: str) -> str:
    """A path part with separators made dashes: 'Resolved_Conversations' -> 'resolved-conversations'."""
    return re.sub(r"[\s_]+", "-", name.lower())


def type_from_folder(folder: str) -> ExportType | None:
    """The export type an SFTP folder name stands for ('resolved-conversation', ...), if it is one."""
    word = _words(folder).strip("-")
    for kind, pattern in _NAME_PATTERNS:
        if pattern.fullmatch(word):
            return kind
    return None


def type_from_name(filename: str) -> ExportType | None:
    """The export type a file name carries ('<orgId>_message_<from>_<to>_<uuid>.csv'), if any."""
    words = _words(filename.rsplit(".", 1)[0])
    for kind, pattern in _NAME_PATTERNS:
        if pattern.search(words):
            return kind
    return None


def type_from_headers(keys: set[str]) -> ExportType | None:
    """The export type whose distinctive headers are all present (the most specific match wins)."""
    best: tuple[int, ExportType] | None = None
    for kind, signature in _SIGNATURES:
        if signature <= keys and (best is None or len(signature) > best[0]):
            best = (len(signature), kind)
    return best[1] if best else None
