"""The old servers' UIDL rules as pure functions: templates, Dovecot's and Courier's files, new mail."""

from __future__ import annotations

import pytest

from pop3d.config import ConfigError, load_config
from pop3d.uidl import courier_sizelist, dovecot_uidlist
from pop3d.uidl.mbox_headers import parse_head
from pop3d.uidl.styles import UidlStyle, dovecot_order, final_uidls
from pop3d.uidl.template import Template, TemplateError

VALUES = {"u": "26", "v": "1796172891", "m": "0cc175b9c0f1b6a831c399e269772661",
          "f": "1700000000.M1P1.host,S=51", "g": "0cc175b9"}


@pytest.mark.parametrize(("source", "expected"), [
    ("%08Xu%08Xv", "0000001a6b0f6c5b"),  # Dovecot's default: lower-case hex, as %llx
    ("%u%v", "261796172891"),
    ("%f", "1700000000.M1P1.host,S=51"),
    ("%.10f", "1700000000"),            # offset 0, width 10: cut
    ("%3.4f", "0000"),                  # skip 3, then 4
    ("%-6.0f", "t,S=51"),                # the last 6
    ("%Uf", "1700000000.M1P1.HOST,S=51"),
    ("%{uid}-%{uidvalidity}", "26-1796172891"),
    ("%Mu", "4e732ced3463d06de0ca9a15b6153677"),
    ("%Rm", "166277962e993c138a6b1f0c9b571cc0"),
    ("x%%%u", "x%26"),
    ("%04u", "0026"),
    ("%1u", "2"),
])
def test_templates_expand_as_dovecots_var_expand(source, expected):
    assert Template.parse(source).expand(VALUES) == expected


@pytest.mark.parametrize("source", ["%q", "%Hu", "plain", "%{nonsense}", "%08X"])
def test_templates_dovecot_would_refuse_are_refused(source):
    with pytest.raises(TemplateError):
        Template.parse(source)


def test_dovecot_uidlist_v3_with_saved_uidls_order_and_guids():
    data = (b"3 V1796172891 N5 G0f3aa1c5b6c0f6bfe49000083ecc375\n"
            b"1 W51 :1700000000.M1P1.host\n"
            b"2 P O2 :1700000100.M2P1.host,S=30\n"
            b"4 Pqpopper-uidl-9 O1 G9f86d081 W40 :1700000200.M3P1.host,S=38\n")
    uidlist = dovecot_uidlist.parse(data)
    assert uidlist is not None and (uidlist.uid_validity, uidlist.next_uid) == (1796172891, 5)
    assert uidlist.records["1700000000.M1P1.host"] == dovecot_uidlist.Record(1)
    assert uidlist.records["1700000100.M2P1.host,S=30"] == dovecot_uidlist.Record(2, "", 2)
    assert uidlist.records["1700000200.M3P1.host,S=38"] == dovecot_uidlist.Record(4, "qpopper-uidl-9", 1,
                                                                                   "9f86d081")


@pytest.mark.parametrize("data", [b"", b"2 1 1\n", b"3 V0 N1\n", b"3 V5 N9\n3 :a\n2 :b\n",
                                  b"3 V5 N9\nx :a\n"])
def test_a_uidlist_dovecot_would_rebuild_is_not_used(data):
    assert dovecot_uidlist.parse(data) is None


def test_courier_sizelist_and_file_name_uidls():
    data = (b"/3 4 1796172891\n1764460800.M1P10.mx:2,S 51 1:1796172891:0\n"
            b"1764460900.M2P10.mx,S=44 44 3:0\nbroken line\n")
    assert courier_sizelist.parse(data) == {"1764460800.M1P10.mx": "UID1-1796172891",
                                            "1764460900.M2P10.mx,S=44": "UID3"}
    assert courier_sizelist.parse(b"/1 4 5\n") is None
    escaped = courier_sizelist.filename_uidl("1764460800.M1P10.mx,S=4+'x\"")
    assert escaped == "1764460800.M1P10.mx,S=4+2B+27x+22"


def test_uw_pseudo_message_and_uid_headers():
    facts = parse_head(b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
                       b"X-IMAP: 1764460800 0000000012 $Forwarded\n\nbody\nX-UID: 9\n")
    assert facts.pseudo and facts.base == (1764460800, 12) and facts.uid is None
    assert parse_head(b"X-UID: 12   \r\nX-IMAPbase: 5 12\r\n\r\n").uid == 12


def test_new_mail_never_looks_like_an_old_uidl():
    alphabet = Template.parse("%08Xu%08Xv").alphabet()
    uids = final_uidls(["0000000100000005", None, None], ["x", "00000002000000ff", "abc.def"], alphabet)
    assert uids == ["0000000100000005", ".00000002000000ff", "abc.def"]
    # Two old messages with one header MD5 (Dovecot's %m) get -2, as pop3_uidl_duplicates = rename.
    assert final_uidls(["aa", "aa", None], ["1", "2", "aa"], None)[:2] == ["aa", "aa-2"]
    assert len(set(final_uidls(["aa", "aa", None], ["1", "2", "aa"], None))) == 3


def test_dovecot_lists_by_pop3_order_then_uid_then_new_mail():
    assert dovecot_order([(None, 3), (2, 7), None, (1, 9), (None, 1)]) == [3, 1, 4, 0, 2]


@pytest.mark.parametrize(("kind", "text", "problem"), [
    ("maildir", "uw", "must be one of pop3d, dovecot, courier"),
    ("maildir", "dovecot:%m", "Dovecot cannot give %m for a maildir"),
    ("mbox", "dovecot:%f", "Dovecot cannot give %f for a mbox"),
    ("mbox", "dovecot:%Hu", "modifier H is not supported"),
    ("mbox", "qpopper:%u", "qpopper takes no template"),
])
def test_a_bad_uidl_format_is_one_line_naming_file_and_key(tmp_path, kind, text, problem):
    (tmp_path / "users.yaml").write_text("{}\n")
    path = tmp_path / "pop3d.yaml"
    path.write_text(f"users: [{{type: virtual, file: users.yaml}}]\nuidl_format: {{{kind}: '{text}'}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    message = str(caught.value)
    assert str(path) in message and f"uidl_format.{kind}" in message and problem in message
    assert "\n" not in message


def test_uidl_format_defaults_to_pop3ds_own_and_qpopper_means_x_uidl(tmp_path):
    (tmp_path / "users.yaml").write_text("{}\n")
    path = tmp_path / "pop3d.yaml"
    path.write_text("users: [{type: virtual, file: users.yaml}]\n")
    assert load_config(str(path)).uidl_format == {"maildir": UidlStyle(), "mbox": UidlStyle()}
    path.write_text("users: [{type: virtual, file: users.yaml}]\nuidl_format: {mbox: qpopper}\n")
    assert load_config(str(path)).mbox_reuse_x_uidl
