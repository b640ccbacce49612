"""No looked-up address or point is ever logged: a logging filter that redacts them.

Request logs (werkzeug's development server, or any handler that logs URLs) would otherwise show
`/api/v1/lookup?lon=2.48&lat=48.90` — a tenant's home. The filter replaces the values of the
sensitive query parameters with «***» in every log record that passes through the root handlers.
"""

from __future__ import annotations

import logging
import re

SENSITIVE_PARAMS = ("lon", "lat", "address", "q", "adresse", "point", "points")
_PATTERN = re.compile(r"(?P<key>(?:^|[?&\s])(?:" + "|".join(SENSITIVE_PARAMS) + r")=)[^&\s\"']*")


def redact(text: str) -> str:
    return _PATTERN.sub(lambda m: m.group("key") + "***", text)


# SQLAlchemy appends a statement's bound values to its errors: "[parameters: (2.48, 48.91)]"
# (engines are made with hide_parameters, this catches any other), and a driver's own message may
# quote a value ('invalid input syntax for type integer: "12 rue…"').
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.S)


def redact_exception_text(text: str) -> str:
    return redact(_PARAMETERS.sub("[parameters: ***]", text))


def traceback_without_values(exc: BaseException) -> str:
    """Where an exception happened (its chain's types and frames), without its messages."""
    import traceback

    parts = []
    while exc is not None:
        parts.insert(0, f"{type(exc).__module__}.{type(exc).__qualname__}\n"
                        + "".join(traceback.format_tb(exc.__traceback__)).rstrip())
        exc = exc.__cause__ or exc.__context__
    return "\n-- which caused --\n".join(parts)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left to logging's own error handling
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact_exception_text(logging.Formatter().formatException(record.exc_info))
        return True


def install(logger_names=("", "werkzeug", "waitress", "maillage")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
