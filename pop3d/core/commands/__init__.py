"""Command handlers, one module per group; importing registers them."""

from pop3d.core.commands import authorization, capa, transaction  # noqa: F401
