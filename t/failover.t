#!/usr/bin/env perl

# Failover on one instance: the primary refuses, hangs, answers 503,
# answers garbage, rejects our credentials; backups in priority order;
# no healthy bridge at all; a flapping primary that must not make the
# active bridge flip-flop; manual failover and failback through the admin
# endpoint and its access control; writes never replayed on another
# bridge once sent; the state kept across a reload.
#
# Nothing here asserts how long anything took: every wait polls the
# status endpoint until a condition holds, with a generous bound.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use MIME::Base64;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsSeed qw(id_of);

my $t = CmsTest->new;

# the audit plugin records what the event hook is given; without it in
# the build, those checks are skipped
my $AUDIT = -f "$CmsTest::ROOT/plugins/audit/config.module";

$t->start_sim(bridges => [
    { name => 'core1', user => 'admin', password => 'secret1' },
    { name => 'core2', user => 'admin2', password => 'secret2' },
    { name => 'core3', user => 'admin3', password => 'secret3' },
]);

$t->write_file('htpasswd', "ops:{PLAIN}opsecret\n");

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;
%%AUDIT_LOG%%

    cms_zone failover 1m;

    upstream cms {
        cms_bridge core1 http://127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 http://127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_bridge core3 http://127.0.0.1:%%PORT_core3%% user=admin3 password=secret3 backup;
        cms_health_check interval=300ms timeout=300ms fall=2 rise=2 jitter=50ms;
        cms_failback auto hold=1500ms;
        cms_discovery off;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
%%AUDIT%%
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            proxy_next_upstream error timeout;
        }

        location = /cms-status {
            cms_status detail;
        }

        location /cms-admin/ {
            cms_admin;
            auth_basic "cms admin";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
        }

        location /cms-admin-denied/ {
            cms_admin;
            deny all;
        }
    }
}
EOF

$conf =~ s/%%AUDIT_LOG%%/$AUDIT ? '    cms_audit_log %%TESTDIR%%\/audit.log;' : ''/e;
$conf =~ s/%%AUDIT%%/$AUDIT ? '            cms_plugins audit;' : ''/e;
$t->write_conf($conf);

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');
my %ops = (user => 'ops', password => 'opsecret');

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    return undef unless $r->{status} == 200;
    return $t->{json}->decode($r->{content})->{upstreams}[0];
}

sub bridge {
    my ($s, $name) = @_;
    my ($b) = grep { $_->{name} eq $name } @{ $s->{bridges} };
    return $b;
}

# polls until the condition holds; returns the last status seen, or
# undef when it never held
sub wait_for {
    my ($cond, $secs) = @_;
    my $deadline = time + ($secs // 15);
    while (time < $deadline) {
        my $s = status();
        return $s if $s && $cond->($s);
        sleep 0.05;
    }
    return undef;
}

sub fault {
    my ($bridge, %f) = @_;
    $t->sim('PUT', "/_sim/bridges/$bridge/fault", { mode => 'none', %f });
}

sub all_up {
    return wait_for(sub {
        my ($s) = @_;
        !grep { $_->{health} ne 'up' } @{ $s->{bridges} };
    });
}

sub active_is {
    my ($name) = @_;
    return wait_for(sub { $_[0]{active} eq $name });
}

sub seen {
    my ($bridge, $re) = @_;
    return [ grep { "$_->{method} $_->{path}" =~ $re }
             @{ $t->sim_requests($bridge) } ];
}

sub audit {
    return map { $t->{json}->decode($_) } split /\n/, $t->read_file('audit.log');
}

sub auth_of {
    my ($user, $password) = @_;
    return 'Basic ' . encode_base64("$user:$password", '');
}

# --- the start: every bridge checked and up, the primary active, epoch 0

my $s = all_up();
ok($s, 'all three bridges checked and up');
is($s->{active}, 'core1', 'the primary is active');
is($s->{epoch}, 0, 'epoch 0: nothing decided yet');
is(bridge($s, 'core1')->{credentials}, 'ok', 'core1 accepts our credentials');
ok(bridge($s, 'core2')->{checks} > 0, 'the backups are checked too');

# --- the primary refuses connections

my $epoch = $s->{epoch};

fault('core1', mode => 'refuse');

$s = active_is('core2');
ok($s, 'primary refuses: the first backup becomes active');
is($s->{epoch}, $epoch + 1, 'the epoch moved by one');
is(bridge($s, 'core1')->{health}, 'down', 'core1 is down');
like($s->{why}, qr/core1 is down: connect\(\) to \S+ failed \(111: Connection refused\)/,
     'why: the connection was refused');
is($s->{by}, 'health-check', 'by: the health check');
is($s->{history}[0]{from}, 'core1', 'history: from core1');
is($s->{history}[0]{to}, 'core2', 'history: to core2');

$t->sim('DELETE', '/_sim/requests');
my $r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 200, 'a GET is answered');
my ($req) = @{ seen('core2', qr{^GET /api/v1/coSpaces$}) };
ok($req, 'by core2');
is($req->{headers}{authorization}, auth_of('admin2', 'secret2'),
   'with core2\'s credentials');

like($t->error_log,
     qr/\[notice\].*cms: upstream "cms": active bridge "core1" -> "core2", epoch 1, by health-check: core1 is down/,
     'the change is in the error log at notice level');
like($t->error_log, qr/\[notice\].*cms event failover core2: \{"upstream":"cms","from":"core1","to":"core2","epoch":1,/,
     'and went to the plugins\' event hook');

SKIP: {
    skip 'no audit plugin in this build', 4 unless $AUDIT;

    my ($ev) = grep { $_->{kind} eq 'event' && $_->{type} eq 'failover' }
               audit();
    ok($ev, 'the audit plugin recorded the failover event');
    is($ev->{detail}{from}, 'core1', 'from');
    is($ev->{detail}{to}, 'core2', 'to');
    like($ev->{detail}{why}, qr/Connection refused/, 'and why');
}

# --- it comes back: failback after rise and the hold-down

fault('core1');

$s = active_is('core1');
ok($s, 'core1 back: failback to the primary');
is($s->{by}, 'failback', 'by: failback');
like($s->{why}, qr/^core1 has been up for \d+ ms$/, 'why: up for the hold-down time');
is($s->{epoch}, $epoch + 2, 'the epoch moved again');

# --- the primary hangs: accepts, never answers

$epoch = $s->{epoch};
fault('core1', mode => 'hang');

$s = active_is('core2');
ok($s, 'primary hangs: failover to core2');
like(bridge($s, 'core1')->{last_error}, qr/did not answer within 300 ms/,
     'why: no answer within the check timeout');

fault('core1');
$s = active_is('core1');
ok($s, 'hang over: back to core1');

# --- the primary answers 503 (CMS: busy)

fault('core1', mode => 'status', status => 503);

$s = active_is('core2');
ok($s, 'primary answers 503: failover to core2');
like(bridge($s, 'core1')->{last_error}, qr{/api/v1/system/status answered 503},
     'why: the status code');
is(bridge($s, 'core1')->{last_status}, 503, 'last_status 503');

fault('core1');
ok(active_is('core1'), '503 over: back to core1');

# --- the primary answers garbage with 200

fault('core1', mode => 'garbage');

$s = active_is('core2');
ok($s, 'primary answers garbage: failover to core2');
like(bridge($s, 'core1')->{last_error}, qr/answered 200 without a well-formed <status>/,
     'why: not a status document');

fault('core1');
$s = active_is('core1');
ok($s, 'garbage over: back to core1');

# --- the primary rejects our credentials: reported, not down

$epoch = $s->{epoch};
$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'admin', password => 'changed' });

$s = wait_for(sub { bridge($_[0], 'core1')->{credentials} eq 'rejected' });
ok($s, 'credentials rejected: reported as such');
is(bridge($s, 'core1')->{health}, 'up', 'core1 is not "down" for a 401');
is(bridge($s, 'core1')->{last_status}, 401, 'last_status 401');

# several more checks, and still no failover
my $checks = bridge($s, 'core1')->{checks};
$s = wait_for(sub { bridge($_[0], 'core1')->{checks} >= $checks + 4 });
is($s->{active}, 'core1', 'no failover for rejected credentials');
is($s->{epoch}, $epoch, 'epoch unchanged');
like($t->error_log, qr/\[error\].*bridge "core1" .* credentials rejected: credentials of user "admin" rejected \(401\)/,
     'the error log says which credentials were rejected');

$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'admin', password => 'secret1' });
ok(wait_for(sub { bridge($_[0], 'core1')->{credentials} eq 'ok' }),
   'credentials accepted again');

# --- the backup down too: the second backup; then nothing at all

fault('core1', mode => 'refuse');
fault('core2', mode => 'refuse');

$s = active_is('core3');
ok($s, 'primary and first backup down: the second backup is active');

fault('core3', mode => 'refuse');
ok(wait_for(sub { bridge($_[0], 'core3')->{health} eq 'down' }),
   'all three down');

$r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 503, 'no healthy bridge: 503');
ok($r->{headers}{'retry-after'} && $r->{headers}{'retry-after'} >= 1,
   'with Retry-After');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
   . qq{<callBridgeUnavailable error="noHealthyCallBridge" /></failureDetails>},
   'and a CMS failureDetails body');
is($r->{headers}{'content-type'}, 'text/xml', 'as text/xml');
like($r->{headers}{'x-cms-proxy-reason'}, qr/no healthy call bridge/,
     'the reason in a header');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     'and the request id in X-Request-Id');

$r = $t->http('PUT', $P, '/api/v1/coSpaces/1234', body => 'name=x');
is($r->{status}, 503, 'a write too: 503, nothing tried');

fault('core2');
$s = active_is('core2');
ok($s, 'core2 back: the active bridge was down, core2 takes over at once');
fault('core1');
fault('core3');
ok(active_is('core1'), 'all back: failback to core1');

# --- a flapping primary: no flip-flop

$s = all_up();
fault('core1', mode => 'refuse');
$s = active_is('core2');
ok($s, 'flapping: first failover to core2');
$epoch = $s->{epoch};

# up for 0.9 s (long enough to pass rise=2), down for 0.4 s: never up
# for the 1.5 s hold-down
my $ups = 0;
for my $i (1 .. 6) {
    fault('core1');
    sleep 0.9;
    $ups++ if bridge(status(), 'core1')->{health} eq 'up';
    fault('core1', mode => 'refuse');
    sleep 0.4;
    is(status()->{epoch}, $epoch, "flap $i: still epoch $epoch, no failback");
}
ok($ups > 0, "core1 was seen up during the flapping ($ups times), yet no failback");

fault('core1');
$s = active_is('core1');
ok($s, 'stable again: failback after the hold-down');
is($s->{epoch}, $epoch + 1, 'exactly one more change');

# --- manual failover and failback, and who may do it

$r = $t->http('POST', $P, '/cms-admin/failover?to=core2');
is($r->{status}, 401, 'admin without credentials: 401');

$r = $t->http('POST', $P, '/cms-admin-denied/failover?to=core2', %ops);
is($r->{status}, 403, 'admin where access is denied: 403');
is(status()->{active}, 'core1', 'and nothing changed');

$r = $t->http('GET', $P, '/cms-admin/failover?to=core2', %ops);
is($r->{status}, 405, 'admin with GET: 405');

$r = $t->http('POST', $P, '/cms-admin/failover?to=core9', %ops);
is($r->{status}, 404, 'failover to an unknown bridge: 404');

$r = $t->http('POST', $P, '/cms-admin/failover?to=core2&reason=maintenance', %ops);
is($r->{status}, 200, 'manual failover: 200');
my $res = $t->{json}->decode($r->{content});
is($res->{result}, 'changed', 'changed');
is($res->{active}, 'core2', 'active: core2');
ok($res->{manual}, 'manual: true');

$s = status();
is($s->{active}, 'core2', 'status: core2 active');
like($s->{by}, qr/^admin:ops\@127\.0\.0\.1$/, 'by: the operator and address');
is($s->{why}, 'manual failover: maintenance', 'why: as given');

$r = $t->http('POST', $P, '/cms-admin/failover?to=core2', %ops);
is($t->{json}->decode($r->{content})->{result}, 'unchanged',
   'the same failover again: unchanged');

# the pin holds past the hold-down, with core1 healthy
$checks = bridge(status(), 'core1')->{checks};
$s = wait_for(sub { bridge($_[0], 'core1')->{checks} >= $checks + 8 });
is($s->{active}, 'core2', 'manual choice stands: no automatic failback');
is(bridge($s, 'core1')->{health}, 'up', 'although core1 is up');

fault('core3', mode => 'refuse');
ok(wait_for(sub { bridge($_[0], 'core3')->{health} eq 'down' }), 'core3 down');
$r = $t->http('POST', $P, '/cms-admin/failover?to=core3', %ops);
is($r->{status}, 409, 'failover to a bridge that is down: 409');
fault('core3');

$r = $t->http('POST', $P, '/cms-admin/failback', %ops);
is($r->{status}, 200, 'manual failback: 200');
$res = $t->{json}->decode($r->{content});
is($res->{active}, 'core1', 'active: core1');
ok(!$res->{manual}, 'manual: false');
is(status()->{why}, 'manual failback', 'why: manual failback');

# --- writes are never sent twice; reads move on

# core1 stays healthy (its status answers) but hangs on coSpaces
fault('core1', mode => 'hang', path => 'coSpaces');
$t->sim('DELETE', '/_sim/requests');

$r = $t->http('PUT', $P, '/api/v1/coSpaces/00000000-0000-0000-0000-000000000001',
              body => 'name=once');
is($r->{status}, 504, 'a PUT the bridge never answered: 504');
like($r->{content}, qr{<callBridgeUnavailable callBridge="core1" error="noAnswerNotReplayed" />},
     'failureDetails: not replayed');
like($r->{headers}{'x-cms-proxy-reason'}, qr/may have been applied/,
     'the reason says why');
is(scalar @{ seen('core1', qr{^PUT /api/v1/coSpaces/}) }, 1, 'core1 got the PUT once');
is(scalar @{ seen('core2', qr{^PUT /api/v1/coSpaces/}) }, 0,
   'core2 never got it');
is(scalar @{ seen('core3', qr{^PUT /api/v1/coSpaces/}) }, 0,
   'core3 never got it');

SKIP: {
    skip 'no audit plugin in this build', 3 unless $AUDIT;

    my ($rec) = grep { $_->{kind} eq 'call' && $_->{method} eq 'PUT'
                       && ($_->{params}{name} // '') eq 'once' } audit();
    ok($rec, 'the audit record of the PUT');
    ok($rec->{upstream_failed}, 'says upstream_failed');
    is($rec->{status}, 504, 'and the status the client got');
}

$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=once');
is($r->{status}, 504, 'a POST likewise: 504');
is(scalar @{ seen('core2', qr{^POST /api/v1/coSpaces}) }, 0,
   'and not replayed');

$r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 200, 'a GET the bridge never answered is answered');
is(scalar @{ seen('core2', qr{^GET /api/v1/coSpaces$}) }, 1,
   'by the next bridge');

fault('core1');

# --- a reload keeps the state

$r = $t->http('POST', $P, '/cms-admin/failover?to=core3', %ops);
is($r->{status}, 200, 'manual failover to core3 before the reload');
$s = status();
$epoch = $s->{epoch};
my $changes = $s->{changes};

my $old_checker = $s->{checker}{pid};
$t->reload_nginx;

$s = wait_for(sub { $_[0]{checker}{generation} >= 2 });
ok($s, 'the new workers run the checks after the reload');
is($s->{active}, 'core3', 'reload: core3 still active');
is($s->{epoch}, $epoch, 'reload: same epoch');
ok($s->{manual}, 'reload: still a manual choice');
is($s->{changes}, $changes, 'reload: same history');

$t->sim('DELETE', '/_sim/requests');
$r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 200, 'after the reload, GET answered');
is(scalar @{ seen('core3', qr{^GET /api/v1/coSpaces$}) }, 1, 'by core3');

$r = $t->http('POST', $P, '/cms-admin/failback', %ops);
is($t->{json}->decode($r->{content})->{active}, 'core1', 'failback after reload');

$t->done;
