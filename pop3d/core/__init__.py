"""The sans-IO POP3 protocol core: states, commands, responses, wire encoding.

Nothing in this package performs I/O.  The session takes command lines and
returns actions (see :mod:`pop3d.core.actions`); an adapter carries them out.
"""
