"""From SPARKCENTRAL_* settings to the archive's source, database path and timezone."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from server.archive.db import default_archive_path
from server.archive.sources import LocalSource, Source
from server.settings import ArchiveFields, ConfigError


def check_timezone(value: str) -> str:
    """An IANA timezone name such as 'Europe/Brussels' (or UTC), as chosen for the scheduled export."""
    value = value.strip() or "UTC"
    if value.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value[:40]!r} is not a timezone name; use the export's timezone as an IANA name, e.g. Europe/Brussels"
        ) from None
    return value


def check_sftp_url(value: str) -> str:
    """An sftp://user@host[:port]/path URL without a password in it."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("expected sftp://user@host:port/export") from None
    if parts.scheme != "sftp" or not parts.hostname or not parts.username:
        raise ValueError("expected sftp://user@host:port/export (scheme sftp, with a user and a host)")
    if parts.password is not None:
        raise ValueError("must not carry a password: put it in SPARKCENTRAL_SFTP_PASSWORD instead")
    if port is not None and not 0 < port < 65536:
        raise ValueError("port must be 1-65535")
    return value


def load_archive_settings(**overrides: Any) -> ArchiveFields:
    """Only the SPARKCENTRAL_* settings (the archive command needs no Sprinklr credentials); ConfigError if wrong."""
    try:
        settings = ArchiveFields(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            variable = field.upper()  # the field names are the variable names, lower-cased
            problems.append(f"{variable} {str(error['msg']).removeprefix('Value error, ')}")
        raise ConfigError("; ".join(problems)) from None
    if settings.sparkcentral_export_dir and settings.sparkcentral_sftp_url:
        raise ConfigError("set SPARKCENTRAL_EXPORT_DIR or SPARKCENTRAL_SFTP_URL, not both: an archive has one source")
    return settings


def source_label(settings: ArchiveFields) -> str:
    """The source's identity: the export directory's absolute path, or the SFTP URL (which never holds a secret)."""
    if settings.sparkcentral_sftp_url:
        return settings.sparkcentral_sftp_url
    if settings.sparkcentral_export_dir:
        return str(Path(settings.sparkcentral_export_dir).expanduser().resolve())
    raise ConfigError(
        "no Sparkcentral archive is configured: set SPARKCENTRAL_EXPORT_DIR (a folder of export CSVs) or "
        "SPARKCENTRAL_SFTP_URL (sftp://user@host/export)"
    )


def archive_path(settings: ArchiveFields) -> Path:
    """SPARKCENTRAL_ARCHIVE_PATH, else a file beside the quota ledger named after the source."""
    if settings.sparkcentral_archive_path:
        return Path(settings.sparkcentral_archive_path).expanduser()
    return default_archive_path(source_label(settings))


def open_source(settings: ArchiveFields) -> Source:
    """The configured source, ready to list and read."""
    if settings.sparkcentral_sftp_url:
        from server.archive.sftp import SftpSource

        return SftpSource(
            settings.sparkcentral_sftp_url,
            password=settings.sparkcentral_sftp_password,
            key_file=settings.sparkcentral_sftp_key_file,
            known_hosts=settings.sparkcentral_sftp_known_hosts,
        )
    source_label(settings)  # says what to set when neither is
    return LocalSource(settings.sparkcentral_export_dir or ".")
