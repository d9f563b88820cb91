#!/usr/bin/env perl

# The TMS session of seed 000 through a failover that happens between
# the meeting's start and its end (CmsSeed::tms_session's "between"):
#
#   - a manual failover (maintenance on core1): every step still answers
#     200; the database writes after it land on core2, while the call,
#     which runs on core1, is still ended on core1;
#   - core1 dies: every database step still answers 200 (from core2), and
#     ending the call, which died with core1, gets a clear failureDetails
#     answer instead of a misleading 404 from core2.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsSeed qw(tms_session id_of);

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=300ms;
        cms_failback manual;
        cms_discovery off;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
        }

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

sub all_up {
    return wait_for(sub { !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} } });
}

# TMS, without credentials of its own: the proxy holds them per bridge
my $tms = sub {
    my ($method, $path, $body) = @_;
    return $t->http($method, $P, $path, body => $body);
};

sub step {
    my ($transcript, $re) = @_;
    my @s = grep { $_->{request} =~ $re } @$transcript;
    return @s;
}

sub landed {
    my ($re) = @_;
    return join ',', map { $_->{bridge} }
                     grep { "$_->{method} $_->{path}" =~ $re }
                     @{ $t->sim_requests };
}

# --- a manual failover between start and end

ok(all_up(), 'both bridges up');

$t->sim('POST', '/_sim/reset');
$t->sim('DELETE', '/_sim/requests');

my $mark;

my $session = tms_session($tms, between => sub {
    my $r = $t->http('POST', $P, '/cms-admin/failover?to=core2&reason=maintenance');
    is($r->{status}, 200, 'between start and end: manual failover to core2');
    $mark = scalar @{ $t->sim_requests };
});

is(scalar @$session, 27, 'all 27 steps sent');
ok(!grep({ $_->{status} != 200 } @$session), 'every step answered 200')
    or diag(explain([ grep { $_->{status} != 200 } @$session ]));

# what the clients sent: the proxy's own health checks (its internal
# client says "User-Agent: ngx_cms") keep asking core1, as they must
my @after = grep { ($_->{headers}{'user-agent'} // '') ne 'ngx_cms' }
            @{ $t->sim_requests }[$mark .. $#{ $t->sim_requests }];

is(join(',', map { $_->{bridge} } grep { $_->{method} eq 'PUT' } @after),
   'core2,core2', 'the extend and end PUTs landed on core2');
is(join(',', map { $_->{bridge} } grep { $_->{method} eq 'DELETE' } @after),
   'core1', 'the call was ended on core1, where it runs');
ok(!grep({ $_->{bridge} eq 'core1' && $_->{method} ne 'DELETE' } @after),
   'nothing else went to core1 after the failover')
    or diag(explain([ grep { $_->{bridge} eq 'core1' } @after ]));

my ($delete) = step($session, qr/^DELETE/);
is($delete->{status}, 200, 'DELETE /calls/<id>: 200');

is($t->http('POST', $P, '/cms-admin/failback')->{status}, 200, 'failback');

# --- core1 dies between start and end

$t->sim('POST', '/_sim/reset');
ok(all_up(), 'both bridges up again');
$t->sim('DELETE', '/_sim/requests');

$session = tms_session($tms, between => sub {
    $t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });
    ok(wait_for(sub { $_[0]{active} eq 'core2' }),
       'between start and end: core1 dies, core2 becomes active');
});

is(scalar @$session, 27, 'all 27 steps sent');

my @bad = grep { $_->{status} != 200 } @$session;
is(scalar @bad, 1, 'one step could not succeed') or diag(explain(\@bad));
like($bad[0]{request}, qr{^DELETE /api/v1/calls/}, 'ending the call');
is($bad[0]{status}, 503, 'answered 503');
is($bad[0]{content}, qq{<?xml version="1.0"?>\n<failureDetails><callBridgeUnavailable }
   . qq{callBridge="core1" error="callBridgeDown" /></failureDetails>},
   'failureDetails: the call\'s bridge is down, not callDoesNotExist from core2');

my (undef, $extend, $end) = step($session, qr{^PUT /api/v1/cospaces/});
is($extend->{status}, 200, 'the extend PUT answered 200');
is($end->{status}, 200, 'the end PUT answered 200');
like(landed(qr{^PUT /api/v1/cospaces/}), qr/^core1,core2,core2$/,
     'the first PUT on core1, extend and end on core2');
is(landed(qr{^DELETE}), '', 'the DELETE reached no bridge');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

$t->done;
