"""What pop3d tells administrators: syslog statistics, debug lines, the protocol trace.

Each writer is an observer of the protocol adapter's events (see
:mod:`pop3d.server.observers`); :mod:`pop3d.logs.wiring` builds the ones the
command-line flags ask for.
"""
