"""nmap -sV --script pop3-capabilities: the service is named pop3 whatever the host name's length.

The greeting once carried a hex APOP timestamp, which nmap's generic pop3 rule
(``<digits.digits@host>``) does not match; with ``hostname: localhost`` the
greeting and two ``-ERR`` answers were exactly 132 octets, nmap's Nagios NSCA
rule, and the pop3 scripts never ran.
"""

from __future__ import annotations

import re

import pytest
from interop_kit import interop_server, run, tool, torture_set
from support import HOST, Client

PROBES = "/usr/share/nmap/nmap-service-probes"


def generic_pop3_rules() -> list[re.Pattern[bytes]]:
    """nmap's pop3 softmatch rules (the ones that fit any server's greeting)."""
    tool("nmap")
    rules = []
    with open(PROBES, "rb") as f:
        for line in f:
            found = re.match(rb"softmatch pop3 m\|(.*)\|", line)
            if found:
                rules.append(re.compile(found.group(1)))
    assert rules, f"no pop3 softmatch in {PROBES}"
    return rules


@pytest.mark.parametrize("apop", [True, False], ids=["apop", "no-apop"])
@pytest.mark.parametrize("length", [1, 5, 9, 16, 30, 63])
def test_greeting_matches_nmaps_generic_pop3_rule_for_any_host_name_length(tmp_path, length, apop):
    hostname = "h" * length
    with interop_server(str(tmp_path), {"nmap": {}}, extra={"hostname": hostname}, apop=apop) as server:
        client = Client.connect(server.port)
        greeting = client.line() + b"\r\n"
        client.close()
    # The APOP timestamp is there only when APOP can succeed; then it is <digits.digits@host>.
    assert bool(re.search(rb"<\d+\.\d+@" + hostname.encode() + rb">\r\n$", greeting)) is apop, greeting
    assert any(rule.match(greeting) for rule in generic_pop3_rules()), greeting


@pytest.mark.slow
def test_nmap_names_the_service_pop3_not_nagios_nsca(tmp_path):
    users = {"nmap": torture_set(small=0)}
    with interop_server(str(tmp_path), users, extra={"hostname": "localhost"}) as server:
        out = run([tool("nmap"), "-n", "-Pn", "-sV", "--script", "pop3-capabilities",
                   "-p", f"{server.port},{server.tls_port}", HOST], timeout=150).stdout.decode()
    ports = {line.split("/")[0]: line.split() for line in out.splitlines() if "/tcp " in line}
    assert "nagios" not in out.lower(), out
    assert ports[str(server.port)][2] == "pop3", out
    assert ports[str(server.tls_port)][2] in ("ssl/pop3", "pop3s", "ssl/pop3s"), out
    assert "pop3-capabilities:" in out and "STLS" in out and "UIDL" in out, out
