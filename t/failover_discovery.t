#!/usr/bin/env perl

# Cluster discovery: the proxy reads /callBridges and /callBridges/<id>
# from the active bridge, matches the bridges to its configuration by
# address, and shows what the cluster has that it does not ("unknown")
# and what it has that the cluster does not ("missing").  After a
# failover it asks the new active bridge.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;

# the cluster: three bridges; the proxy knows two of them, and a third
# one at an address no bridge of the cluster has

$t->start_sim(bridges => [
    { name => 'core1', user => 'admin', password => 'secret1' },
    { name => 'core2', user => 'admin2', password => 'secret2' },
    { name => 'core3', user => 'admin3', password => 'secret3' },
], args => ['--page-size', '2']);

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    upstream cms {
        cms_bridge core1 http://127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 http://localhost:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_bridge core9 http://127.0.0.1:%%PORT_nothing%% user=admin9 password=secret9 backup;
        cms_health_check interval=300ms timeout=300ms;
        cms_discovery on interval=1s;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        location = /cms-status { cms_status detail; }
        location /cms-admin/ { cms_admin; }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    return $t->{json}->decode($r->{content})->{upstreams}[0];
}

sub wait_for {
    my ($cond) = @_;
    my $deadline = time + 15;
    while (time < $deadline) {
        my $s = status();
        return $s if $cond->($s);
        sleep 0.05;
    }
    return undef;
}

my $s = wait_for(sub { $_[0]{discovery}{at} && @{ $_[0]{discovery}{bridges} } == 3 });
ok($s, 'the cluster was discovered: three bridges, over two pages of /callBridges');

my $d = $s->{discovery};
is($d->{from}, 'core1', 'asked the active bridge');
is($d->{error}, undef, 'without error');
ok($d->{enabled}, 'enabled');

my %by_name = map { $_->{name} => $_ } @{ $d->{bridges} };
is($by_name{'CallBridge-core1'}{configured}, 'core1',
   'core1 matched by address');
is($by_name{'CallBridge-core2'}{configured}, 'core2',
   'core2 matched, although configured by host name');
is($by_name{'CallBridge-core3'}{configured}, undef, 'core3 is not configured');
like($by_name{'CallBridge-core1'}{address}, qr{^http://127\.0\.0\.1:\d+$},
     'with the address the cluster gives');
like($by_name{'CallBridge-core1'}{id}, qr/^[0-9a-f-]{36}$/, 'and its id');

is_deeply($d->{unknown}, ['CallBridge-core3'], 'unknown: core3');
is_deeply($d->{missing}, ['core9'], 'missing: core9');

like($t->error_log,
     qr/\[warn\].*cms: upstream "cms": the cluster differs from the configuration: .*"unknown":\[\{"name":"CallBridge-core3"/,
     'the difference is in the error log');
like($t->error_log, qr/cms event discovery cms: /, 'and went to the event hook');

# --- after a failover, the new active bridge is asked

my $at = $s->{discovery}{at};
my $r = $t->http('POST', $P, '/cms-admin/failover?to=core2');
is($r->{status}, 200, 'manual failover to core2');

$s = wait_for(sub { $_[0]{discovery}{from} eq 'core2' });
ok($s, 'discovery asked core2 after the change');
is_deeply($s->{discovery}{unknown}, ['CallBridge-core3'], 'same result');

# once per change: the same difference is not logged again
my $warnings = () = $t->error_log =~ /the cluster differs from the configuration/g;
is($warnings, 1, 'the difference was logged once');

# --- a bridge that fails discovery: the error is shown

$t->sim('PUT', '/_sim/bridges/core2/fault', { mode => 'garbage', path => 'callBridges' });
$s = wait_for(sub { defined $_[0]{discovery}{error} });
ok($s, 'a broken answer to /callBridges');
like($s->{discovery}{error}, qr{GET /api/v1/callBridges: not the XML expected},
     'is reported');
is(scalar @{ $s->{discovery}{bridges} }, 3, 'the last good result is kept');

$t->sim('PUT', '/_sim/bridges/core2/fault', { mode => 'none' });

$t->done;
