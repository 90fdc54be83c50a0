"""Command handlers, one module per group; importing registers them."""

from pop3d.core.commands import authorization, capa, sasl, stls, transaction, xtnd  # noqa: F401
