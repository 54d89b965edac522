"""What this server has found out about a Sprinklr account where the reference is silent, kept per tenant.

The reference documents no page size for associated messages, no meaning for `page.start`, two forms for the
MESSAGE `timeFilter`, and filter keys and sorts that may or may not be accepted. The client works under every
reading, and where one request cannot be right under all of them it finds out which holds (lazily, or all at once
with `sprinklr-mcp check --probe`) and records it here: in memory, and in a JSON file beside the quota ledger so
later processes start from what was found.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

PageStart = Literal["position", "position0", "page"]
TimeForm = Literal["epoch", "month"]


@dataclass
class Findings:
    """One account's answers to the reference's open questions; None means not found out yet."""

    # page.start: 1-based position of the first result, 0-based position, or 1-based page number.
    page_start: PageStart | None = None
    # MESSAGE timeFilter since/until: epoch milliseconds, or "YYYY-MM" month strings.
    time_filter: TimeForm | None = None
    # Whether CASE search accepts a sort on a key other than createdTime.
    other_sorts: bool | None = None
    # Case status/priority/type live in workflow.customProperties.spr_uc_* ("custom") or only at top level ("top").
    status_field: Literal["custom", "top"] | None = None
    # Whether CASE search accepts the undocumented filter keys we try (status, assignee, firstMessageId).
    extended_keys: bool | None = None
    # The largest associated-messages page seen, and whether answers came in the {"data", "errors"} envelope.
    associated_page: int | None = None
    envelope: Literal["enveloped", "bare"] | None = None
    # Whether a MESSAGE filter `deleted EQUALS false` keeps messages (informational: we never rely on it).
    message_deleted_filter: bool | None = None
    probed_at: float | None = None
    probe_calls: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The findings as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Findings:
        """Findings from a JSON object, ignoring what this version does not know or cannot read."""
        found = cls()
        if not isinstance(data, dict):
            return found
        known = {f.name for f in fields(cls)}
        for name, value in data.items():
            if name in known and value is not None:
                setattr(found, name, value)
        return found.checked()

    def checked(self) -> Findings:
        """Drop values outside the known readings (a hand-edited or older file)."""
        if self.page_start not in (None, "position", "position0", "page"):
            self.page_start = None
        if self.time_filter not in (None, "epoch", "month"):
            self.time_filter = None
        if self.status_field not in (None, "custom", "top"):
            self.status_field = None
        return self


class FindingsStore:
    """A tenant's findings in memory, saved to a JSON file (atomically) whenever something new is found."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.findings = self._load()

    def _load(self) -> Findings:
        if self.path is None or not self.path.exists():
            return Findings()
        try:
            return Findings.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable findings file %s (%s)", self.path, type(exc).__name__)
            return Findings()

    def update(self, **values: Any) -> None:
        """Record what was found and save it; unchanged values cost nothing."""
        changed = False
        for name, value in values.items():
            if getattr(self.findings, name) != value:
                setattr(self.findings, name, value)
                changed = True
        if changed:
            self.save()

    def replace(self, findings: Findings) -> None:
        """Replace everything with a probe's findings and save them."""
        findings.probed_at = findings.probed_at or time.time()
        self.findings = findings.checked()
        self.save()

    def save(self) -> None:
        """Write the findings beside the ledger; a failure to write is logged, never fatal."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".findings-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self.findings.as_json(), out, indent=2, sort_keys=True)
            os.replace(temp, self.path)
        except OSError as exc:
            log.warning("could not save findings to %s (%s)", self.path, type(exc).__name__)
