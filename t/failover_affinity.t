#!/usr/bin/env perl

# Call affinity: calls are local to the bridge that runs them, so every
# call-scoped request (/calls/<id>..., /callLegs/<id>, /participants/<id>,
# the CMM move POST) goes to the bridge hosting the call, whatever the
# active bridge is.  Learned from the Location of creations and moves,
# from GETs and from listings; a call whose bridge is dead gets a clear
# failureDetails answer, not a misleading 404 from another bridge.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP ();
use CmsTest;
use CmsSeed qw(id_of);

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
    }

    upstream plain {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_call_affinity off;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
        }

        location = /cms-status { cms_status detail; }
        location /cms-admin/ { cms_admin cms; }
    }

    server {
        listen 127.0.0.1:%%PORT_plain%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://plain;
        }

        location /cms-admin/ { cms_admin plain; }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy'), $t->port('plain')]);

my $P = $t->port('proxy');

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    my ($c) = grep { $_->{name} eq 'cms' }
              @{ $t->{json}->decode($r->{content})->{upstreams} };
    return $c;
}

sub bridge {
    my ($s, $name) = @_;
    my ($b) = grep { $_->{name} eq $name } @{ $s->{bridges} };
    return $b;
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

sub api {
    my ($method, $path, $body) = @_;
    return $t->http($method, $P, $path, (defined $body ? (body => $body) : ()));
}

sub direct {
    my ($bridge, $method, $path, $body) = @_;
    my %cred = (core1 => [qw(admin secret1)], core2 => [qw(admin2 secret2)]);
    return $t->http($method, $t->port($bridge), $path,
                    user => $cred{$bridge}[0], password => $cred{$bridge}[1],
                    (defined $body ? (body => $body) : ()));
}

sub where {
    my ($re) = @_;
    return join ',', map { $_->{bridge} }
                     grep { "$_->{method} $_->{path}" =~ $re }
                     @{ $t->sim_requests };
}

sub admin {
    my ($what, $port) = @_;
    my $r = $t->http('POST', $port // $P, "/cms-admin/$what");
    return $r->{status} == 200 ? $t->{json}->decode($r->{content}) : undef;
}

ok(wait_for(sub { bridge($_[0], 'core1')->{health} eq 'up'
                  && bridge($_[0], 'core2')->{health} eq 'up' }),
   'both bridges up');

my $space = id_of(api(POST => '/api/v1/coSpaces', 'name=Affinity')
                  ->{headers}{location});
ok($space, 'a coSpace');

# --- a call created through the proxy lives on core1

$t->sim('DELETE', '/_sim/requests');

my $call = id_of(api(POST => '/api/v1/calls', "coSpace=$space")
                 ->{headers}{location});
ok($call, 'call created');
is(where(qr{^POST /api/v1/calls$}), 'core1', 'on core1, the active bridge');

is(admin('failover?to=core2')->{active}, 'core2', 'manual failover to core2');

$t->sim('DELETE', '/_sim/requests');

my $r = api(GET => "/api/v1/calls/$call");
is($r->{status}, 200, 'GET the call after the failover: 200');
is(where(qr{^GET /api/v1/calls/}), 'core1', 'answered by core1, where it lives');

$r = api(POST => "/api/v1/calls/$call/callLegs", 'remoteParty=ex90@example.com');
is($r->{status}, 200, 'a call leg added');
is(where(qr{^POST /api/v1/calls/[^/]+/callLegs$}), 'core1',
   'on core1, the call\'s bridge');

my $leg = id_of($r->{headers}{location});
$r = api(GET => "/api/v1/callLegs/$leg");
is($r->{status}, 200, 'GET the new call leg');
is(where(qr{^GET /api/v1/callLegs/}), 'core1',
   'on core1: the leg lives where the call lives');

$r = api(GET => '/api/v1/calls');
is(where(qr{^GET /api/v1/calls$}), 'core2', 'a listing goes to the active bridge');
unlike($r->{content}, qr/\Q$call\E/, 'which does not run the call');

# --- the same without affinity: the misleading 404

$t->sim('DELETE', '/_sim/requests');
ok(admin('failover?to=core2', $t->port('plain')), 'plain upstream: failover to core2');
$r = $t->http('GET', $t->port('plain'), "/api/v1/calls/$call");
is($r->{status}, 404, 'without affinity the active bridge says 404');
like($r->{content}, qr/callDoesNotExist/, 'callDoesNotExist, although the call runs');

# --- learned from a listing

my $call2 = id_of(direct(core2 => POST => '/api/v1/calls', "coSpace=$space")
                  ->{headers}{location});
ok($call2, 'a call started on core2 behind the proxy\'s back');

$r = api(GET => '/api/v1/calls');
like($r->{content}, qr/\Q$call2\E/, 'the active bridge (core2) lists it');

is(admin('failback')->{active}, 'core1', 'failback to core1');

$t->sim('DELETE', '/_sim/requests');
$r = api(GET => "/api/v1/calls/$call2");
is($r->{status}, 200, 'GET the core2 call with core1 active: 200');
is(where(qr{^GET /api/v1/calls/}), 'core2', 'answered by core2, learned from the listing');

# participants: a listing on core1 teaches where they are

my $pid = $t->sim('POST', '/_sim/participants',
    { bridge => 'core1', call => $call, name => 'Guest', canMove => JSON::PP::true })->{id};
ok($pid, 'a participant in the core1 call');

$r = api(GET => '/api/v1/participants');
like($r->{content}, qr/\Q$pid\E/, 'listed by core1');

is(admin('failover?to=core2')->{active}, 'core2', 'failover to core2 again');

$t->sim('DELETE', '/_sim/requests');
$r = api(GET => "/api/v1/participants/$pid");
is($r->{status}, 200, 'GET the participant: 200');
is(where(qr{^GET /api/v1/participants/}), 'core1', 'from core1');

# --- the CMM move: goes where the target call lives, the new
# participant is found there

$t->sim('DELETE', '/_sim/requests');
$r = api(POST => "/api/v1/calls/$call2/participants",
         "movedParticipant=$pid&needsActivation=false");
is($r->{status}, 200, 'move into the core2 call: 200');
is(where(qr{^POST /api/v1/calls/[^/]+/participants$}), 'core2',
   'sent to core2, the target call\'s bridge');

my $moved = id_of($r->{headers}{location});
ok($moved && $moved ne $pid, 'a new participant id');

is(admin('failback')->{active}, 'core1', 'failback to core1');

$t->sim('DELETE', '/_sim/requests');
$r = api(GET => "/api/v1/participants/$moved");
is($r->{status}, 200, 'GET the moved participant with core1 active: 200');
is(where(qr{^GET /api/v1/participants/}), 'core2', 'from core2, where it now lives');

my $tracked = status()->{calls}{tracked};
ok($tracked >= 5, "the map tracks calls, legs and participants ($tracked)");

# --- deleted: forgotten

$t->sim('DELETE', '/_sim/requests');
$r = api(DELETE => "/api/v1/calls/$call2");
is($r->{status}, 200, 'DELETE the core2 call');
is(where(qr{^DELETE /api/v1/calls/}), 'core2', 'on core2');
is(status()->{calls}{tracked}, $tracked - 1, 'and forgotten');

# --- the call's bridge dies: a clear answer, nothing sent elsewhere

my $call3 = id_of(api(POST => '/api/v1/calls', "coSpace=$space")
                  ->{headers}{location});
ok($call3, 'another call on core1');

is(admin('failover?to=core2')->{active}, 'core2', 'failover to core2');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });
ok(wait_for(sub { bridge($_[0], 'core1')->{health} eq 'down' }), 'core1 down');

$t->sim('DELETE', '/_sim/requests');

$r = api(GET => "/api/v1/calls/$call3");
is($r->{status}, 503, 'GET a call on the dead bridge: 503');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails><callBridgeUnavailable }
   . qq{callBridge="core1" error="callBridgeDown" /></failureDetails>},
   'failureDetails: callBridgeUnavailable on core1');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
like($r->{headers}{'x-cms-proxy-reason'}, qr/the call lives on bridge "core1", which is down/,
     'the reason');

$r = api(DELETE => "/api/v1/calls/$call3");
is($r->{status}, 503, 'DELETE it: 503 as well');

is(where(qr{/calls/\Q$call3\E}), '', 'nothing about that call reached any bridge');

$r = api(GET => '/api/v1/coSpaces');
is($r->{status}, 200, 'database objects are still served by core2');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

$t->done;
