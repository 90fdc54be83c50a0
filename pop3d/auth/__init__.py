"""Authentication behind twisted.cred: credentials, checkers, the realm."""
