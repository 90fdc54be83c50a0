"""The old servers' UIDL rules as pure functions: templates, UID headers, new mail, the setting."""

from __future__ import annotations

import pytest

from pop3d.config import ConfigError, load_config
from pop3d.uidl.mbox_headers import parse_head
from pop3d.uidl.styles import UidlStyle, final_uidls
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


@pytest.mark.parametrize(("kind", "text", "problem"), [
    ("maildir", "uw", "must be one of pop3d for maildir"),
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
