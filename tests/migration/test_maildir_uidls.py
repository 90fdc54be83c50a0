"""Maildirs taken over from Dovecot and Courier keep their UIDLs and message order.

For Dovecot, Debian's Dovecot serves the Maildir first and its UIDL listing
is recorded; then pop3d serves the same files and must answer the same, and
``pop3d-migrate check`` must find no change.  Courier's files are laid out
as its pop3d (courier-libs imap/pop3dserver.C) reads and writes them.
"""

from __future__ import annotations

import os

import pytest
from dovecot_kit import give_to_mail, running_dovecot
from migration_kit import PASSWORD, make_maildir, message, run_check, sized, uidl_listing
from support import Client

pytestmark = pytest.mark.slow

FIRST, SECOND, THIRD = message("first"), message("second"), message("third")
FIRST_NAME = sized("1764460800.M11P10.mx", FIRST)
SECOND_NAME = sized("1764460900.M12P10.mx", SECOND)
FILES = {
    # Delivered by Dovecot's LDA (,S= and ,W= sizes), read and flagged by IMAP clients...
    f"cur/{FIRST_NAME}:2,S": FIRST,
    f"cur/{SECOND_NAME}:2,RS": SECOND,
    # ...and older mail from a plain Maildir deliverer, one not read yet.
    "cur/1764400000.M1P9.mx:2,": message("older"),
    f"new/{sized('1764461000.M13P10.mx', THIRD)}": THIRD,
}
#: As a migration script or pop3_save_uidl leaves it: saved UIDLs (P) and a POP3 order (O)
#: that differ from the file names' order.
UIDLIST = ("3 V1764460000 N9 G0f3aa1c5b6c0f6bfe49000083ecc3751\n"
           "2 :1764400000.M1P9.mx\n"
           f"5 Pqpopper-7f3a O1 :{FIRST_NAME}\n"
           f"6 P O2 G9f86d081884c7d65 :{SECOND_NAME}\n")


def maildir(shared_dir: str, uidlist: str | None = None) -> str:
    path = make_maildir(f"{shared_dir}/alice/Maildir", FILES)
    if uidlist is not None:
        with open(os.path.join(path, "dovecot-uidlist"), "w") as f:
            f.write(uidlist)
    give_to_mail(shared_dir)
    return path


def pop3d_alice(path: str) -> dict[str, dict[str, str]]:
    return {"alice": {"password": PASSWORD, "maildrop": f"maildir:{path}"}}


@pytest.mark.parametrize("uidlist", [None, UIDLIST], ids=["fresh", "saved-uidls"])
@pytest.mark.parametrize("template", [None, "%f", "%g", "%u.%v"])
def test_pop3d_sends_dovecots_maildir_uidls(make_server, shared_dir, template, uidlist):
    path = maildir(shared_dir, uidlist)
    settings = {} if template is None else {"pop3_uidl_format": template}
    with running_dovecot(f"{shared_dir}/dovecot", {"alice": (PASSWORD, f"maildir:{path}")}, settings) as dc:
        expected = uidl_listing(dc.port, "alice")
    assert len(expected) == 4
    if uidlist:
        assert expected[:2] == ["qpopper-7f3a", SECOND_NAME]
    style = "dovecot" if template is None else f"dovecot:{template}"
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": style}})
    assert uidl_listing(server.port, "alice") == expected


def test_check_reports_no_change_from_dovecot_maildir(make_server, shared_dir, tmp_path):
    path = maildir(shared_dir, UIDLIST)
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "dovecot"}})
    with running_dovecot(f"{shared_dir}/dovecot", {"alice": (PASSWORD, f"maildir:{path}")}) as dc:
        result = run_check(str(tmp_path), dc.port, server.port, ["alice"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_maildir_mail_after_the_switch_gets_new_uidls_at_the_end(make_server, shared_dir):
    path = maildir(shared_dir)
    with running_dovecot(f"{shared_dir}/dovecot", {"alice": (PASSWORD, f"maildir:{path}")}) as dc:
        before = uidl_listing(dc.port, "alice")
    # Delivered after the switch, with a name that sorts before every other.
    with open(os.path.join(path, "new", "1700000000.M99P1.mx"), "wb") as f:
        f.write(message("after the switch"))
    give_to_mail(path)  # delivered as the maildrop's owner
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "dovecot"}})
    after = uidl_listing(server.port, "alice")
    assert after[:4] == before and after[4] == "1700000000.M99P1.mx"


def test_under_a_file_name_template_new_mail_already_has_the_uidl_dovecot_will_give(make_server, shared_dir):
    # Dovecot keeps serving the Maildir by IMAP: mail an MTA delivers is listed by pop3d
    # before Dovecot numbers it; with %f its UIDL must not change when Dovecot does.
    path = maildir(shared_dir)
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "dovecot:%f"}})
    users = {"alice": (PASSWORD, f"maildir:{path}")}
    with running_dovecot(f"{shared_dir}/dovecot", users, {"pop3_uidl_format": "%f"}) as dc:
        uidl_listing(dc.port, "alice")
        late = message("delivered by the MTA")
        name = sized("1764470000.M20P10.mx", late)
        with open(os.path.join(path, "new", name), "wb") as f:
            f.write(late)
        give_to_mail(path)
        first_seen_by_pop3d = uidl_listing(server.port, "alice")
        assert first_seen_by_pop3d[-1] == name
        assert uidl_listing(dc.port, "alice") == first_seen_by_pop3d  # Dovecot numbers it now
    assert uidl_listing(server.port, "alice") == first_seen_by_pop3d


COURIER_SIZELIST = ("/3 7 1764460000\n"
                    "1764400000.M1P9.mx:2, 100 3:1764460000:0\n"
                    f"{FIRST_NAME}:2,S 101 5:1764460000:0\n"
                    f"{SECOND_NAME}:2,RS 102 6:0:0\n")


def test_pop3d_sends_courier_uidls_from_its_size_list(make_server, tmp_path):
    path = make_maildir(str(tmp_path / "Maildir"), FILES)
    with open(os.path.join(path, "courierpop3dsizelist"), "w") as f:
        f.write(COURIER_SIZELIST)
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "courier"}})
    # Courier's order: the delivery time in the name; the message it never listed is new.
    assert uidl_listing(server.port, "alice") == ["UID3-1764460000", "UID5-1764460000", "UID6",
                                                  "1764461000.M13P10.mx"]


def test_pop3d_sends_courier_file_name_uidls_without_a_size_list(make_server, tmp_path):
    path = make_maildir(str(tmp_path / "Maildir"), {"cur/1764400000.M1P9.mx'x:2,S": message("odd name"),
                                                    "new/1764461000.M13P10.mx": message("plain")})
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "courier"}})
    assert uidl_listing(server.port, "alice") == ["1764400000.M1P9.mx+27x", "1764461000.M13P10.mx"]


@pytest.mark.parametrize("attack", ["symlink", "fifo"])
def test_a_hostile_dovecot_uidlist_refuses_the_login_and_hangs_nothing(make_server, tmp_path, attack):
    # The user makes dovecot-uidlist a link to a file only root may read, or a FIFO
    # that would block the server's open forever.
    path = make_maildir(str(tmp_path / "Maildir"), FILES)
    uidlist = os.path.join(path, "dovecot-uidlist")
    if attack == "symlink":
        secret = tmp_path / "secret"
        secret.write_text(UIDLIST)
        os.symlink(secret, uidlist)
    else:
        os.mkfifo(uidlist)
    server = make_server(pop3d_alice(path), {"uidl_format": {"maildir": "dovecot"}})
    client = Client.connect(server.port, timeout=10)
    try:
        client.line()
        assert client.cmd("USER alice").startswith(b"+OK")
        assert client.cmd(f"PASS {PASSWORD}").startswith(b"-ERR [SYS/")
    finally:
        client.close()
    assert "dovecot-uidlist" in server.log()
