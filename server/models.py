"""Wire models: Sprinklr's payloads as it sends them (camelCase, extra fields ignored, epoch ms made aware UTC).

Parsing is tolerant on purpose: Sprinklr adds fields, omits documented ones and sometimes sends a number as a
string. Only the identifier of each entity is required; anything unparseable becomes None rather than an error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


def _epoch_ms(value: Any) -> datetime | None:
    """Epoch milliseconds (int, float or digit string) to an aware UTC datetime; anything else to None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.lstrip("-").isdigit():
            return None
        value = int(value)
    if not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


EpochMs = Annotated[datetime | None, BeforeValidator(_epoch_ms)]
Text = Annotated[str | None, BeforeValidator(_text)]
Number = Annotated[float | None, BeforeValidator(_number)]
Integer = Annotated[int | None, BeforeValidator(_integer)]
Flag = Annotated[bool | None, BeforeValidator(_flag)]
# An entity's id, required; some endpoints send it as a number.
Identifier = Annotated[str, BeforeValidator(lambda value: str(value) if isinstance(value, int) else value)]


# {sourceType}_{sourceId}_{channelCreatedTime}_{channelType}_{messageType}_{channelMessageId}, where the source type
# (PERSISTENT_SEARCH), the channel type (SINA_WEIBO) and the native id (Facebook's pageId_postId) may hold '_' too.
_MESSAGE_ID = re.compile(
    r"^(?P<source_type>[A-Z]+(?:_[A-Z]+)*)_(?P<source_id>[^_]+)_(?P<time>\d{10,})_"
    r"(?P<channel>[A-Z]+(?:_[A-Z]+)*)_(?P<type>\d+)_(?P<native>.+)$"
)


def message_id_parts(message_id: str) -> dict[str, str] | None:
    """The parts of a documented message id (source_type, source_id, time, channel, type, native), or None."""
    match = _MESSAGE_ID.match(message_id)
    return match.groupdict() if match else None


class Wire(BaseModel):
    """Base for Sprinklr payloads: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


def _sub(model: type[Wire]) -> BeforeValidator:
    """Parse a nested object tolerantly: anything that is not an object becomes None."""

    def parse(value: Any) -> Any:
        return value if isinstance(value, dict) else None

    return BeforeValidator(parse)


class Assignment(Wire):
    """Who a case is assigned to."""

    assignee_id: Text = None
    assignee_type: Text = None
    assigned_by_id: Text = None
    assignment_time: EpochMs = None


class QueueRef(Wire):
    """A queue a case sits in."""

    queue_id: Text = None
    assignment_time: EpochMs = None


class Workflow(Wire):
    """A case's workflow: assignment, custom properties (field id -> values) and queues."""

    assignment: Annotated[Assignment | None, _sub(Assignment)] = None
    custom_properties: dict[str, list[Any]] = Field(default_factory=dict)
    queues: list[QueueRef] = Field(default_factory=list)

    @field_validator("custom_properties", mode="before")
    @classmethod
    def _properties(cls, value: Any) -> dict[str, list[Any]]:
        if not isinstance(value, dict):
            return {}
        # A property may arrive as a bare value instead of the documented list.
        return {str(k): (v if isinstance(v, list) else [v]) for k, v in value.items() if v is not None}

    @field_validator("queues", mode="before")
    @classmethod
    def _queues(cls, value: Any) -> list[Any]:
        if not isinstance(value, list):
            return []
        return [item if isinstance(item, dict) else {"queueId": item} for item in value]


class CaseContact(Wire):
    """The customer a case is about."""

    id: Text = None
    name: Text = None
    channel_type: Text = None
    channel_id: Text = None


class ExternalCase(Wire):
    """A case in another system (Salesforce, Zendesk, ...) linked to this one."""

    id: Text = None
    case_number: Text = None
    channel_type: Text = None
    permalink: Text = None
    created_time: EpochMs = None
    modified_time: EpochMs = None


class Case(Wire):
    """A Sprinklr case (universal case)."""

    id: Identifier
    case_number: Integer = None
    subject: Text = None
    description: Text = None
    summary: Text = None
    status: Text = None
    priority: Text = None
    case_type: Text = None
    created_time: EpochMs = None
    modified_time: EpochMs = None
    due_date: EpochMs = None
    first_message_id: Text = None
    sentiment: Number = None
    deleted: Flag = None
    workflow: Annotated[Workflow | None, _sub(Workflow)] = None
    contact: Annotated[CaseContact | None, _sub(CaseContact)] = None
    external_case: Annotated[ExternalCase | None, _sub(ExternalCase)] = None
    latest_message_associated_time: EpochMs = None


class Attachment(Wire):
    """A file or link attached to a message."""

    url: Text = None
    type: Text = None
    preview_url: Text = None
    name: Text = None


class Content(Wire):
    """A message's content."""

    text: Text = None
    title: Text = None
    attachments: list[Attachment] = Field(
        default_factory=list, validation_alias=AliasChoices("attachment", "attachments")
    )

    @field_validator("attachments", mode="before")
    @classmethod
    def _attachments(cls, value: Any) -> list[Any]:
        # Documented as one object; some channels send a list.
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
        return []


class SocialProfile(Wire):
    """The sender or receiver of a message, as the channel knows them."""

    name: Text = None
    username: Text = None
    channel_type: Text = None
    channel_id: Text = None
    permalink: Text = None
    followers: Integer = None
    verified: Flag = None


class Enrichments(Wire):
    """Sprinklr's enrichments of a message."""

    sentiment: Number = None


class Message(Wire):
    """A Sprinklr message (a post, comment, DM, email, ...)."""

    message_id: str = Field(validation_alias=AliasChoices("messageId", "id"))
    source_type: Text = None
    source_id: Text = None
    channel_type: Text = None
    channel_created_time: EpochMs = None
    created_time: EpochMs = None
    modified_time: EpochMs = None
    brand_post: Flag = None
    language: Text = None
    content: Annotated[Content | None, _sub(Content)] = None
    sender_profile: Annotated[SocialProfile | None, _sub(SocialProfile)] = None
    receiver_profile: Annotated[SocialProfile | None, _sub(SocialProfile)] = None
    enrichments: Annotated[Enrichments | None, _sub(Enrichments)] = None
    parent_message_id: Text = None
    conversation_message_id: Text = None

    @property
    def message_type(self) -> str | None:
        """The message type code, read from the documented message id format."""
        parts = message_id_parts(self.message_id)
        return parts["type"] if parts else None

    @property
    def when(self) -> datetime | None:
        """The best known time of the message: on the channel, else in Sprinklr."""
        return self.channel_created_time or self.created_time


class ProfileContact(Wire):
    """Contact details Sprinklr holds for a profile."""

    email: Text = None
    phone_no: Text = None
    full_name: Text = None


class Profile(Wire):
    """A customer profile (a person on a channel)."""

    id: Identifier
    name: Text = None
    username: Text = None
    channel_type: Text = None
    channel_id: Text = None
    permalink: Text = None
    followers: Integer = None
    following: Integer = None
    verified: Flag = None
    contact: Annotated[ProfileContact | None, _sub(ProfileContact)] = None
    created_time: EpochMs = None
    modified_time: EpochMs = None


class SearchPage(BaseModel):
    """One page of a search: raw results, the cursor for the next page (None at the end), the total if counted."""

    results: list[dict[str, Any]]
    cursor: str | None
    total: int | None
    issued: float  # when Sprinklr issued the cursor (unix time); it expires 5 minutes later


class User(Wire):
    """A Sprinklr user (an agent or a bot) as USER search returns one; fields beyond the id are read tolerantly."""

    id: Identifier
    name: Text = Field(default=None, validation_alias=AliasChoices("name", "displayName", "fullName", "userName"))
    email: Text = None
    user_type: Text = Field(default=None, validation_alias=AliasChoices("userType", "type", "role"))


def _option(value: Any) -> Any:
    if isinstance(value, dict):
        for key in ("label", "displayName", "name", "value"):
            if isinstance(value.get(key), str | int | float):
                return str(value[key])
        return None
    return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None


class FieldDef(Wire):
    """A custom field's definition as CUSTOM_FIELD search returns one: its id, its name and, for picklists, options."""

    id: Identifier
    name: Text = Field(default=None, validation_alias=AliasChoices("name", "displayName", "label", "fieldName"))
    options: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("options", "values", "pickListValues", "allowedValues")
    )

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> list[str]:
        if not isinstance(value, list):
            return []
        return [str(option) for option in map(_option, value) if option is not None]
