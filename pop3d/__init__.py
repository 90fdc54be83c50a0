"""pop3d: a POP3 server (RFC 1939 and extensions) on Twisted."""

__version__ = "0.1.0"
