"""``pop3d-stats``: a summary of pop3d's lines in mail.log, in the spirit of pflogsumm.

``syslog_lines`` splits a mail.log line into time, host, ident and message;
``events`` turns pop3d's messages into events; ``tally`` counts them;
``formatter`` prints the counts as text or JSON; ``sources`` opens plain,
rotated and gzipped logs; ``cli`` is the command.
"""
