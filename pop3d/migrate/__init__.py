"""``pop3d-migrate``: prove before a cut-over that no client will download its mail again."""
