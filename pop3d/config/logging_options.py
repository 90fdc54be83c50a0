"""The ``logging`` section and the shutdown grace period of the configuration."""

from __future__ import annotations

from pop3d.config.model import LoggingConfig
from pop3d.config.reader import Section

#: syslog(3) facility numbers by name (RFC 5424 section 6.2.1).
FACILITIES = {
    "user": 1, "mail": 2, "daemon": 3, "auth": 4, "authpriv": 10,
    **{f"local{n}": 16 + n for n in range(8)},
}


def load_logging(section: Section) -> LoggingConfig:
    """Read ``logging:`` (ident, facility, syslog_socket, fallback_file); every key is optional."""
    ident = section.str("ident", LoggingConfig.ident)
    if any(c.isspace() or c in "[]:" for c in ident):
        raise section.error("ident", f"must be one word without spaces, brackets or colons, not {ident!r}")
    options = LoggingConfig(
        ident=ident,
        facility=section.str("facility", LoggingConfig.facility, choices=tuple(FACILITIES)),
        syslog_socket=section.path_("syslog_socket", LoggingConfig.syslog_socket),
        fallback_file=section.path_("fallback_file", None),
    )
    section.finish()
    return options
