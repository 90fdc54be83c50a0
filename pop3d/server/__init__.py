"""The Twisted side: the protocol adapter, streaming, listening endpoints."""
