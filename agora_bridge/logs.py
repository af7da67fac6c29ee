"""Logging: structlog over the stdlib, JSON in production, console in development.

Every record — ours and those of sqlalchemy, uvicorn or httpx — goes through one chain that
ends with `redact_personal_data`, so no NIR, name or birth date reaches a log line
(`operations.md`, Security). Tracebacks are rendered without local variables: structlog shows
them by default, and a NIR held in a local would leak.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal, TextIO
from uuid import UUID

import structlog
from structlog.dev import plain_traceback
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, Processor, WrappedLogger

from agora_bridge.settings import ConfigurationError

REDACTED = "[REDACTED]"
NIR_PLACEHOLDER = "[NIR]"

# Keys whose whole value is personal data, at any depth.
PERSONAL_KEYS = frozenset(
    {
        "nir",
        "nir13",
        "nom",
        "nom_naissance",
        "prenom",
        "date_naissance",
        "titulaire",
        "stagiaire",
    }
)

# A NIR as people write it: 13 characters, or 15 with the key, the groups (sex, year, month,
# department, commune, order, key) optionally split by a space, dot or dash — French typing
# also uses non-breaking spaces. The alphanumeric boundaries keep longer numbers (a 14-digit
# SIRET) and identifiers intact.
_SEP = "[ .\\-\u00a0\u202f]?"
NIR_PATTERN = re.compile(
    rf"(?<![0-9A-Za-z])[1-478]{_SEP}[0-9]{{2}}{_SEP}[0-9]{{2}}{_SEP}(?:[0-9]{{2}}|2[ABab])"
    rf"{_SEP}[0-9]{{3}}{_SEP}[0-9]{{3}}(?:{_SEP}[0-9]{{2}})?(?![0-9A-Za-z])"
)

# An API key (`agb_<id>_<secret>`, storage/callers.py): the id may be logged, never the secret.
_API_KEY = re.compile(r"(agb_[0-9a-f]{12})_[A-Za-z0-9_-]+")
API_KEY_PLACEHOLDER = r"\1_[SECRET]"

# pydantic's ValidationError text repeats the rejected input (a name, a birth date).
_PYDANTIC_INPUT = re.compile(r"input_value=.*?(?=, input_type=)")

# Keys structlog itself needs intact further down the chain.
_PASSTHROUGH_KEYS = frozenset({"exc_info", "_record", "_from_structlog"})
# Values that cannot hide a NIR once rendered (a date is redacted by its key, not its shape).
_SAFE_SCALARS = (bool, float, Decimal, date, datetime, time, UUID)
_SMALLEST_NIR_NUMBER = 10**12

# Libraries that log through the stdlib; uvicorn installs its own handlers, bypassing ours.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# sqlalchemy (INFO) and the drivers aiosqlite/asyncpg (DEBUG) log statements with their
# parameters, which hold personal data: never let them through (httpcore: wire noise).
_QUIET_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.pool", "httpcore", "aiosqlite", "asyncpg")


def redact_text(text: str) -> str:
    """NIR-shaped runs, API key secrets and pydantic's echoed inputs removed from free text."""
    text = NIR_PATTERN.sub(NIR_PLACEHOLDER, text)
    if "agb_" in text:
        text = _API_KEY.sub(API_KEY_PLACEHOLDER, text)
    if "input_value=" in text:
        text = _PYDANTIC_INPUT.sub(f"input_value={REDACTED}", text)
    return text


def redact_values(text: str, values: Iterable[str]) -> str:
    """`text` without the given personal values, as whole words and whatever their case:
    a stagiaire's names and birth date, which no pattern can tell from other words."""
    for value in sorted({v for v in values if v.strip()}, key=len, reverse=True):
        whole = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)
        text = whole.sub(REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    if value is None or isinstance(value, _SAFE_SCALARS):
        return value
    return _redact_object(value)


def _redact_object(value: Any) -> Any:
    if isinstance(value, int):
        # A NIR passed as a number.
        too_short = abs(value) < _SMALLEST_NIR_NUMBER
        return value if too_short or not NIR_PATTERN.search(str(value)) else NIR_PLACEHOLDER
    if hasattr(value, "model_dump"):
        # A pydantic model (a Snapshot): redact its fields by name, not only its text.
        return _redact_value(value.model_dump(mode="json"))
    # Anything else (an exception object...) would be rendered as text: redact that text.
    return redact_text(str(value))


def _redact_item(key: Any, value: Any) -> Any:
    if isinstance(key, str) and key.lower() in PERSONAL_KEYS:
        return REDACTED
    return _redact_value(value)


def redact_personal_data(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """structlog processor: personal keys become `[REDACTED]`, NIR-shaped text `[NIR]`."""
    return {
        key: value if key in _PASSTHROUGH_KEYS else _redact_item(key, value)
        for key, value in event_dict.items()
    }


def _exception_renderer(fmt: Literal["json", "console"]) -> ExceptionRenderer:
    # Rendered to data *before* redaction, so that exception messages are redacted too.
    if fmt == "json":
        return ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
    return ExceptionRenderer()  # the stdlib's plain text traceback, which has no locals


def _shared_processors(fmt: Literal["json", "console"]) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _exception_renderer(fmt),
        redact_personal_data,
    ]


def _renderer(fmt: Literal["json", "console"], stream: TextIO) -> Processor:
    if fmt == "json":
        # Dates and decimals as their text, not Python reprs.
        return structlog.processors.JSONRenderer(default=str)
    colors = hasattr(stream, "isatty") and stream.isatty()
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=plain_traceback)


def _handler(fmt: Literal["json", "console"], stream: TextIO) -> logging.Handler:
    handler = _BridgeHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Records of other libraries get the same enrichment and redaction as ours.
            foreign_pre_chain=_shared_processors(fmt),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _renderer(fmt, stream),
            ],
        )
    )
    return handler


class _BridgeHandler(logging.StreamHandler[TextIO]):
    """Our handler, told apart so that reconfiguring replaces it and leaves others alone."""


def _route_library_loggers() -> None:
    for name in _UVICORN_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _install_root_handler(handler: logging.Handler, level: int) -> None:
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BridgeHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def _level_number(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        msg = f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got {level!r})"
        raise ConfigurationError(msg)
    return number


def configure_logging(
    *,
    level: str = "INFO",
    fmt: Literal["json", "console"] = "json",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the stdlib's loggers to `stream` (stderr by default)."""
    number = _level_number(level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            # Redacted here already, so that any other handler on the root logger (pytest's
            # capture) never sees the raw values either.
            *_shared_processors(fmt),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: module-level loggers must follow a later reconfiguration (tests, CLI).
        cache_logger_on_first_use=False,
    )
    _install_root_handler(_handler(fmt, stream or sys.stderr), number)
    _route_library_loggers()


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A typed structlog logger; log with dotted event names and keyword fields."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
