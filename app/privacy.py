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


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left to logging's own error handling
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install(logger_names=("", "werkzeug", "waitress", "maillage")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
