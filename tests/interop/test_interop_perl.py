"""Perl: Net::POP3 (login, STLS, APOP) and Mail::POP3Client in its default BEST mode.

Net::POP3 gives each line with its CRLF made ``\\n`` (Net::Cmd), but after
``starttls`` its IO::Socket::SSL handle keeps the CRLF: the expected form
follows the mode.  Mail::POP3Client writes each message as it came over the
wire (CRLF ends, unstuffed).
"""

from __future__ import annotations

import pytest
from interop_kit import (
    APOP_SECRET,
    PASSWORD,
    as_delivered,
    as_wire,
    compare,
    interop_server,
    read_files,
    run,
    tool,
    torture_set,
)

MESSAGES = torture_set(small=50)

NET_POP3 = r"""
use strict; use Net::POP3;
my ($port, $user, $secret, $mode, $ca, $out) = @ARGV;
my $pop = Net::POP3->new('localhost', Port => $port, Timeout => 30) or die "connect: $@";
if ($mode eq 'stls') { $pop->starttls(SSL_ca_file => $ca) or die "STLS failed"; }
my $count = $mode eq 'apop' ? $pop->apop($user, $secret) : $pop->login($user, $secret);
defined $count or die "login failed: " . $pop->message;
for my $n (1 .. $count) {
    my $lines = $pop->get($n) or die "RETR $n failed";
    open(my $fh, '>:raw', sprintf('%s/%04d', $out, $n)) or die; print $fh @$lines; close($fh);
}
$pop->quit;
"""

POP3CLIENT = r"""
use strict; use Mail::POP3Client;
my ($port, $user, $secret, $mode, $out) = @ARGV;
my %args = (USER => $user, PASSWORD => $secret, HOST => '127.0.0.1', PORT => $port, TIMEOUT => 30);
$args{AUTH_MODE} = $mode if $mode ne 'default';
my $pop = Mail::POP3Client->new(%args);
$pop->Count() >= 0 or die "login failed: " . $pop->Message();
for my $n (1 .. $pop->Count()) {
    open(my $fh, '>:raw', sprintf('%s/%04d', $out, $n)) or die;
    $pop->RetrieveToFile($fh, $n) or die "RETR $n failed"; close($fh);
}
$pop->Close();
"""

USERS = ("net-plain", "net-stls", "net-apop", "client-default", "client-apop")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The default configuration and one with APOP enabled, side by side."""
    with interop_server(str(tmp_path_factory.mktemp("perl")), dict.fromkeys(USERS, MESSAGES)) as off, \
            interop_server(str(tmp_path_factory.mktemp("perl-apop")), dict.fromkeys(USERS, MESSAGES),
                           apop=True) as on:
        yield {"apop-off": off, "apop-on": on}


@pytest.mark.parametrize(("config", "mode"), [
    ("apop-off", "plain"), ("apop-off", "stls"),
    ("apop-on", "plain"), ("apop-on", "stls"), ("apop-on", "apop"),
])
def test_net_pop3(servers, tmp_path, config, mode):
    server = servers[config]
    secret = APOP_SECRET.decode() if mode == "apop" else PASSWORD
    run([tool("perl"), "-e", NET_POP3, str(server.port), f"net-{mode}", secret, mode, server.cert.certificate,
         str(tmp_path)])
    compare(read_files(str(tmp_path)), MESSAGES, as_wire if mode == "stls" else as_delivered)


@pytest.mark.parametrize(("config", "mode"), [
    ("apop-off", "default"),
    ("apop-on", "default"),  # APOP refused (secret is not the password), NOOP +OK, then USER/PASS
    ("apop-on", "APOP"),
])
def test_mail_pop3client(servers, tmp_path, config, mode):
    """BEST (the default) must log in whether or not the greeting offers APOP."""
    server = servers[config]
    user = "client-apop" if mode == "APOP" else "client-default"
    secret = APOP_SECRET.decode() if mode == "APOP" else PASSWORD
    run([tool("perl"), "-MMail::POP3Client", "-e", POP3CLIENT, str(server.port), user, secret, mode,
         str(tmp_path)])
    compare(read_files(str(tmp_path)), MESSAGES, as_wire)
