#!/usr/bin/env perl

# Health checks over TLS: the certificate is verified by default (chain
# against cms_health_ssl_trusted_certificate, name against the bridge's
# address or ssl_name=), and only cms_health_ssl_verify off skips that.
# The proxied traffic uses nginx's own proxy_ssl_* directives.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;
my $d = $t->dir;

# a CA, a bridge certificate it signed (core.test and 127.0.0.1), and an
# unrelated CA

my @ec = qw(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes);

system("openssl req -x509 @ec -days 2 -subj /CN=test-ca "
       . "-keyout $d/ca.key -out $d/ca.pem >/dev/null 2>&1") == 0 or die;
system("openssl req -x509 @ec -days 2 -subj /CN=other-ca "
       . "-keyout $d/other.key -out $d/other.pem >/dev/null 2>&1") == 0 or die;
system("openssl req @ec -subj /CN=core.test "
       . "-keyout $d/bridge.key -out $d/bridge.csr >/dev/null 2>&1") == 0 or die;
$t->write_file('bridge.ext', "subjectAltName=DNS:core.test,IP:127.0.0.1\n");
system("openssl x509 -req -in $d/bridge.csr -CA $d/ca.pem -CAkey $d/ca.key "
       . "-CAcreateserial -days 2 -extfile $d/bridge.ext -out $d/bridge.pem "
       . ">/dev/null 2>&1") == 0 or die;

$t->start_sim(bridges => [
    { name => 'core1', user => 'admin', password => 'secret1', tls => 1 },
], args => ['--cert', "$d/bridge.pem", '--key', "$d/bridge.key"]);

# one bridge per upstream, checked every second with a generous timeout:
# the simulator's TLS handshakes are slow (Perl), and five upstreams
# check at once

my $bridges = <<'EOF';
        cms_bridge core1 https://127.0.0.1:%%PORT_core1%% user=admin password=secret1 NAME1;
        cms_health_check interval=1s timeout=3s;
        cms_discovery off;
EOF

sub upstream {
    my ($name, $extra, $n1) = @_;
    my $b = $bridges;
    $b =~ s/NAME1/$n1 \/\/ ''/e;
    return "    upstream $name {\n$b$extra    }\n";
}

$t->write_conf("%%GLOBALS%%\nevents {}\nhttp {\n"
    . upstream('by_address', "        cms_health_ssl_trusted_certificate $d/ca.pem;\n")
    . upstream('by_name', "        cms_health_ssl_trusted_certificate $d/ca.pem;\n",
               'ssl_name=core.test')
    . upstream('wrong_name', "        cms_health_ssl_trusted_certificate $d/ca.pem;\n",
               'ssl_name=other.test')
    . upstream('wrong_ca', "        cms_health_ssl_trusted_certificate $d/other.pem;\n")
    . upstream('no_verify', "        cms_health_ssl_verify off;\n"
               . "        cms_health_ssl_trusted_certificate $d/other.pem;\n")
    . <<'EOF');
    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass https://by_address;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %%TESTDIR%%/ca.pem;
            proxy_ssl_name core.test;
            proxy_ssl_server_name on;
        }

        location = /cms-status { cms_status detail; }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    my %u = map { $_->{name} => $_ }
            @{ $t->{json}->decode($r->{content})->{upstreams} };
    return \%u;
}

sub core1 {
    my ($s, $u) = @_;
    my ($b) = grep { $_->{name} eq 'core1' } @{ $s->{$u}{bridges} };
    return $b;
}

# wait until every upstream's core1 has been judged (up or down)
my $s;
my $deadline = time + 30;
while (time < $deadline) {
    $s = status();
    last unless grep { core1($s, $_)->{health} eq 'unknown'
                       || (core1($s, $_)->{health} ne 'up'
                           && core1($s, $_)->{consecutive_failures} < 2) }
                keys %$s;
    sleep 0.1;
}

is(core1($s, 'by_address')->{health}, 'up',
   'trusted CA, certificate for the address: up');
is(core1($s, 'by_address')->{last_status}, 200, 'and the status GET answered 200');
is(core1($s, 'by_name')->{health}, 'up', 'trusted CA, ssl_name in the certificate: up');

is(core1($s, 'wrong_name')->{health}, 'down', 'a name the certificate lacks: down');
like(core1($s, 'wrong_name')->{last_error}, qr/certificate of \S+ does not match "other\.test"/,
     'why: the name');

is(core1($s, 'wrong_ca')->{health}, 'down', 'a CA that did not sign it: down');
like(core1($s, 'wrong_ca')->{last_error}, qr/certificate of \S+ not trusted \(\d+: /,
     'why: not trusted');

is(core1($s, 'no_verify')->{health}, 'up', 'verification off: up whatever the CA');


# the proxied traffic, with nginx's own verification
my $r = $t->http('GET', $P, '/api/v1/system/status');
is($r->{status}, 200, 'a request proxied over verified TLS');
like($r->{content}, qr{<status>}, 'the bridge\'s answer');

$t->done;
