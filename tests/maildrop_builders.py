"""Builders of test maildrops on disk (Maildir and mbox)."""

from __future__ import annotations

import os


def message(i: int, body_size: int = 200) -> bytes:
    body = (f"Message {i} body line.\n" * (body_size // 23 + 1)).encode()[:body_size]
    return (f"From: sender{i}@example.org\nTo: user@example.org\nSubject: message {i}\n"
            f"Message-ID: <{i}@example.org>\n\n").encode() + body + b"\n"


def make_maildir(path: str, count: int, body_size: int = 200) -> list[str]:
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    names = []
    for i in range(count):
        name = f"{1700000000 + i}.M{i}P1.test"
        with open(os.path.join(path, "new", name), "wb") as f:
            f.write(message(i, body_size))
        names.append(name)
    return names


def maildir_with(path: str, files: dict[str, bytes]) -> str:
    """A Maildir at ``path`` holding ``files`` ({"cur/NAME": bytes, "new/NAME": bytes})."""
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    return path


def make_mbox(path: str, count: int, body_size: int = 200) -> None:
    with open(path, "wb") as f:
        for i in range(count):
            f.write(b"From sender@example.org Sat Nov  7 11:00:00 2026\n" + message(i, body_size) + b"\n")


def file_tree(path: str) -> dict[str, str]:
    """{relative path: file name} of the message files in a Maildir's new/ and cur/."""
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(path, sub)):
            out[f"{sub}/{name}"] = name
    return out
