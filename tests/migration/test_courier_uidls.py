"""Maildirs taken over from Courier: Courier's own pop3d answers first, then pop3d must answer the same."""

from __future__ import annotations

import os

import pytest
from courier_kit import running_courier
from migration_kit import PASSWORD, make_maildir, message, run_check, sized, uidl_listing

pytestmark = pytest.mark.slow


def courier_maildir(directory: str) -> str:
    first, second, third = message("first"), message("second"), message("third")
    return make_maildir(os.path.join(directory, "Maildir"), {
        f"cur/{sized('1764460800.M1P10.mx', first)}:2,S": first,   # as Courier's deliverquota names them
        "cur/1764460900.M2P10.mx:2,": second,
        f"new/{sized('1764461000.M3P10.mx', third)}": third,
    })


def test_pop3d_sends_courier_pop3ds_uidls(make_server, tmp_path):
    path = courier_maildir(str(tmp_path))
    with running_courier(path) as port:
        expected = uidl_listing(port, "alice")  # Courier writes courierpop3dsizelist now
    assert len(expected) == 3 and all(uidl.startswith("UID") for uidl in expected)
    assert os.path.exists(os.path.join(path, "courierpop3dsizelist"))
    server = make_server({"alice": {"password": PASSWORD, "maildrop": f"maildir:{path}"}},
                         {"uidl_format": {"maildir": "courier"}})
    assert uidl_listing(server.port, "alice") == expected


def test_check_reports_no_change_from_courier_and_every_change_without_the_setting(make_server, tmp_path):
    path = courier_maildir(str(tmp_path))
    users = {"alice": {"password": PASSWORD, "maildrop": f"maildir:{path}"}}
    courier_style = make_server(users, {"uidl_format": {"maildir": "courier"}})
    with running_courier(path) as port:
        result = run_check(str(tmp_path), port, courier_style.port, ["alice"])
        native = make_server(users)
        unset = run_check(str(tmp_path), port, native.port, ["alice"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert unset.returncode == 1 and "3 messages downloaded again" in unset.stdout
