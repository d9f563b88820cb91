#!/usr/bin/env perl

# Health checks: one worker at a time runs them (owner pid in shared
# memory) and another takes over when the owner dies; a failed live
# request triggers an immediate re-check and counts toward "fall"; a
# bridge going down is logged once, not at every failed check; a write
# answered 200 with a body (not CMS) counts as a failure; the status
# endpoint describes it all.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;

# two workers; checks every 300 ms for "fast", every minute for "slow"
# (so that any check after the first one is one somebody asked for)

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    upstream fast {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=300ms fall=3 rise=2;
        cms_discovery off;
    }

    upstream slow {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=60s timeout=1s fall=2 rise=2;
        cms_failback manual;
        cms_discovery off;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://slow;
            proxy_connect_timeout 1s;
        }

        location = /cms-status { cms_status detail; }
    }
}
EOF

$t->write_conf($conf);

# %%GLOBALS%% says one worker
my $c = $t->read_file('nginx.conf');
$c =~ s/^worker_processes 1;$/worker_processes 2;/m or die 'no worker_processes';
$t->write_file('nginx.conf', $c);

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub status {
    my ($name) = @_;
    my $r = $t->http('GET', $P, '/cms-status');
    return undef unless $r->{status} == 200;
    my ($u) = grep { $_->{name} eq $name }
              @{ $t->{json}->decode($r->{content})->{upstreams} };
    return $u;
}

sub bridge {
    my ($s, $name) = @_;
    my ($b) = grep { $_->{name} eq $name } @{ $s->{bridges} };
    return $b;
}

sub wait_for {
    my ($name, $cond) = @_;
    my $deadline = time + 15;
    while (time < $deadline) {
        my $s = status($name);
        return $s if $s && $cond->($s);
        sleep 0.05;
    }
    return undef;
}

sub workers {
    my $master = $t->{pids}{nginx};
    my @w = map { /(\d+)/ ? $1 : () } `ps -o pid= --ppid $master`;
    return @w;
}

# --- the status document

my $s = wait_for('fast', sub { !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} } });
ok($s, 'fast: both bridges up');

is_deeply([ map { $_->{name} } @{ $s->{bridges} } ], [qw(core1 core2)],
          'bridges in priority order');
is(bridge($s, 'core1')->{role}, 'primary', 'core1 primary');
is(bridge($s, 'core2')->{role}, 'backup', 'core2 backup');
is(bridge($s, 'core2')->{priority}, 1, 'core2 priority 1');
ok(bridge($s, 'core1')->{active}, 'core1 marked active');
like(bridge($s, 'core1')->{last_check}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'last check as an RFC 3339 time');
is(bridge($s, 'core1')->{last_status}, 200, 'last status 200');
ok(defined bridge($s, 'core1')->{latency_ms}, 'latency reported');
is_deeply($s->{health_check}, { enabled => JSON::PP::true, interval_ms => 300,
          timeout_ms => 300, jitter_ms => 100, fall => 3, rise => 2 },
          'the check settings');
is($s->{failback}{mode}, 'auto', 'failback auto by default');
is($s->{failback}{hold_ms}, 30000, 'hold 30 s by default');

# --- one worker checks

my @workers = workers();
is(scalar @workers, 2, 'two workers');

my $owner = $s->{checker}{pid};
ok((grep { $_ == $owner } @workers), "the checker ($owner) is one of them");

# the checks were all started by that worker (the debug log names the
# process of every line)
sleep 1;
my %starters = map { $_ => 1 }
    $t->error_log =~ /^\S+ \S+ \[debug\] (\d+)#\d+: cms: health check of bridge "core\d" of upstream "fast" started$/mg;
is_deeply([ keys %starters ], [ $owner ], 'every check was started by the checker');

# --- the checker dies: another worker takes over

kill 'KILL', $owner;

$s = wait_for('fast', sub { $_[0]{checker}{pid} != $owner });
ok($s, 'the checker was replaced');
my $new = $s->{checker}{pid};
ok((grep { $_ == $new } workers()), "by a live worker ($new)");

my $checks = bridge($s, 'core1')->{checks};
ok(wait_for('fast', sub { bridge($_[0], 'core1')->{checks} > $checks + 2 }),
   'and the checks go on');
like($t->error_log, qr/health checks taken over from worker $owner/,
     'the take-over is logged');

# --- a live request that fails asks for a re-check at once

$s = wait_for('slow', sub { !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} } });
ok($s, 'slow: both bridges up after their first check');
my $first = bridge($s, 'core1')->{checks};

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });

my $r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 200, 'the live GET is answered (by core2)');

$s = wait_for('slow', sub { $_[0]{active} eq 'core2' });
ok($s, 'slow: core2 active, a minute before the next regular check');
is(bridge($s, 'core1')->{passive_failures}, 1, 'one passive failure');
is(bridge($s, 'core1')->{failures}, 1, 'one failed active check');
is(bridge($s, 'core1')->{checks}, $first + 1, 'exactly one check since the first: the re-check');
is(bridge($s, 'core1')->{health}, 'down', 'core1 down: fall=2 from one passive and one active failure');
like($s->{why}, qr/core1 is down: connect\(\) to \S+ failed/,
     'why: from the re-check');

# --- logged once

$s = wait_for('fast', sub { bridge($_[0], 'core1')->{health} eq 'down' });
ok($s, 'fast: core1 down too');
my $failures = bridge($s, 'core1')->{failures};
ok(wait_for('fast', sub { bridge($_[0], 'core1')->{failures} > $failures + 5 }),
   'several more failed checks');
my $down = () = $t->error_log =~ /bridge "core1" \S+ of upstream "fast" is down/g;
is($down, 1, 'the error log says "down" once');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });
ok(wait_for('fast', sub { bridge($_[0], 'core1')->{health} eq 'up' }), 'fast: core1 up again');
like($t->error_log, qr/\[notice\].*bridge "core1" \S+ of upstream "fast" is up again after 2 good checks/,
     'and that it is up again after rise=2 checks');

# --- a write answered 200 with a body counts against the bridge

$s = status('slow');
is($s->{active}, 'core2', 'slow: core2 still active (manual failback)');
my $passive = bridge($s, 'core2')->{passive_failures};
$t->sim('PUT', '/_sim/bridges/core2/fault',
        { mode => 'hostile', kind => 'doctype', path => 'coSpaces' });
$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=Lie');
$t->sim('PUT', '/_sim/bridges/core2/fault', { mode => 'none' });
is($r->{status}, 502, 'a creation answered 200 with a body: 502');
$s = wait_for('slow', sub { bridge($_[0], 'core2')->{passive_failures} > $passive });
ok($s, 'core2: one more passive failure');
like($t->error_log, qr/a live request answered a write with 200 and a body/,
     'the reason is logged');

# the master reports the worker we killed; anything else is ours
$t->stop_nginx;
my $log = $t->error_log;
$log =~ s/^.*worker process $owner exited on signal 9.*\n//m;
$t->write_file('error.log', $log);

$t->done;
