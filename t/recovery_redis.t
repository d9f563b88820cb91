#!/usr/bin/env perl

# The recovery plugin with two proxy instances sharing one Redis: the
# meeting is made through instance a, one of its dial-outs is hung up
# through instance b; b notices core1's death first (its health checks
# are faster) and wins the failover decision.  Exactly one instance
# recovers: b, from what Redis holds (a's meeting, without the dial-out
# hung up through b); a, which adopts the change, recovers nothing.  The
# epoch is claimed in Redis.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsSeed qw(id_of);
use CmsWait qw(wait_for);

my $t = CmsTest->new;

$t->start_sim;
my $R = $t->start_redis;

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    cms_redis 127.0.0.1:%%PORT_redis%% prefix=rc: connect_timeout=1s;
    cms_audit_log %%TESTDIR%%/events_%%I%%.log;

    cms_recover_calls on;
    cms_recovery_max_calls 64;
    cms_recovery_redis on;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=%%INTERVAL%% timeout=300ms;
        cms_failback manual;
        cms_discovery off;
    }

    server {
        listen 127.0.0.1:%%PORT_PROXY%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            cms_plugins audit recovery;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
        }

        location = /cms-status { cms_status detail; }
    }
}
EOF

my %INTERVAL = (a => '3s', b => '200ms');

for my $i ('a', 'b') {
    my $c = $conf;
    $c =~ s/%%PORT_PROXY%%/%%PORT_proxy_$i%%/;
    $c =~ s/%%I%%/$i/;
    $c =~ s/%%INTERVAL%%/$INTERVAL{$i}/;
    $t->write_conf($c, "$i.conf");
    my $text = $t->read_file("$i.conf");
    $text =~ s{pid \S+;}{pid ${\ $t->dir }/$i.pid;};
    $t->write_file("$i.conf", $text);
}

$t->run_nginx(conf => 'a.conf', key => 'nginx_a', pidfile => $t->dir . '/a.pid',
              ports => [$t->port('proxy_a')]);
$t->run_nginx(conf => 'b.conf', key => 'nginx_b', pidfile => $t->dir . '/b.pid',
              ports => [$t->port('proxy_b')]);

my %P = (a => $t->port('proxy_a'), b => $t->port('proxy_b'));
my $json = $t->{json};

sub status {
    my ($i) = @_;
    my $r = $t->http('GET', $P{$i}, '/cms-status');
    return undef unless $r->{status} == 200;
    return $json->decode($r->{content})->{upstreams}[0];
}

sub api {
    my ($i, $method, $path, $body) = @_;
    return $t->http($method, $P{$i}, $path, body => $body);
}

sub state { $t->sim('GET', '/_sim/state') }

sub calls_on { @{ state()->{bridges}{$_[0]}{calls} } }

sub parties_of {
    my ($bridge, $call) = @_;
    my @p = sort map { $_->{remoteParty} }
                 grep { $_->{call} eq $call }
                 @{ state()->{bridges}{$bridge}{callLegs} };
    return @p;
}

sub steps {
    my ($i, $step) = @_;
    my @e;
    for my $l (split /\n/, eval { $t->read_file("events_$i.log") } // '') {
        my $e = eval { $json->decode($l) } or next;
        push @e, $e if ($e->{type} // '') eq 'recovery'
                       && $e->{detail}{step} eq $step;
    }
    return @e;
}

sub redis { my $out = `redis-cli -p $R --raw @_`; chomp $out; return $out }

ok(wait_for('both up, with Redis', sub {
    my ($sa, $sb) = (status('a'), status('b'));
    return $sa && $sb && $sa->{redis}{available} && $sb->{redis}{available}
           && !grep { $_->{health} ne 'up' } @{ $sa->{bridges} },
                                             @{ $sb->{bridges} };
}, 20), 'both instances up, Redis available to both');

# --- a meeting through a: the seed's space opened, a call, dial-outs

my $space = id_of(api(a => POST => '/api/v1/coSpaces',
                      'name=TMS_Scheduled_Meeting_1')->{headers}{location});
is(api(a => PUT => "/api/v1/cospaces/$space",
       '&nonMemberAccess=true&passcode=&name=Team Meeting'
       . '&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a')->{status}, 200,
   'slot checked out through a');

my $call = id_of(api(a => POST => '/api/v1/calls', "coSpace=$space")
                 ->{headers}{location});
ok($call, 'call created through a');

my @legs;
for my $party ('desk.ex90@tkratzke.local', 'room.b@example.com',
               'room.gone@example.com')
{
    my $r = api(a => POST => "/api/v1/calls/$call/calllegs",
                "remoteParty=$party");
    is($r->{status}, 200, "dial-out to $party through a");
    push @legs, id_of($r->{headers}{location});
}

ok(wait_for('the meeting in Redis', sub {
    redis('HLEN', "rc:recovery:m:$call") == 4;
}), 'Redis holds the call and its three dial-outs');

is(api(b => DELETE => "/api/v1/callLegs/$legs[2]")->{status}, 200,
   'the third dial-out hung up through b');
ok(wait_for('the dial-out gone from Redis', sub {
    redis('HLEN', "rc:recovery:m:$call") == 3;
}), 'and gone from Redis');

# a map left from a recovery two days ago: the next map added drops it
redis('HSET', 'rc:recovery:maps', 'stale-old', 'stale-new');
redis('ZADD', 'rc:recovery:maps:at', time() - 2 * 86400, 'stale-old');

# --- core1 dies; b decides

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });

ok(wait_for('both on core2', sub {
    my ($sa, $sb) = (status('a'), status('b'));
    return $sa && $sb && $sa->{active} eq 'core2' && $sb->{active} eq 'core2';
}, 20), 'both instances on core2');

my $new;
ok(wait_for('the call on core2', sub {
    my @c = grep { $_->{coSpace} eq $space } calls_on('core2');
    return 0 unless @c == 1;
    $new = $c[0]{id};
    my @p = parties_of('core2', $new);
    return @p == 2;
}, 20), 'the meeting is back on core2');

is_deeply([ parties_of('core2', $new // '') ],
          [ 'desk.ex90@tkratzke.local', 'room.b@example.com' ],
          'with the dial-outs made through a, not the one hung up through b');

ok(wait_for('the done event', sub { steps('b', 'done') >= 1 }),
   'b recovered');

is(scalar(steps('b', 'started')), 1, 'b started one recovery');
is((steps('b', 'started'))[0]{detail}{source}, 'redis',
   'from what Redis holds');
is(scalar(steps('a', 'started')), 0, 'a started none');
is(scalar(grep { $_->{coSpace} eq $space } calls_on('core2')), 1,
   'exactly one call on core2');
is(scalar(grep { $_->{bridge} eq 'core2' && $_->{method} eq 'POST'
                 && $_->{path} eq '/api/v1/calls' } @{ $t->sim_requests }),
   1, 'one call create on core2');

my $epoch = status('b')->{epoch};
like(redis('GET', "rc:recovery:claim:cms:$epoch"), qr/:\d+$/,
     "the epoch $epoch claimed in Redis");
is(redis('GET', "rc:recovery:map:$call"), $new, 'Redis maps the old call to the new');
is(redis('HLEN', "rc:recovery:m:$new"), 3, 'and keeps the new call with its dial-outs');

# --- the ids TMS knows, through a, which did not recover: a learnt the
# map from b's message on the "recovery" channel

my $r = api(a => GET => "/api/v1/calls/$call");
is($r->{status}, 200, 'through a: GET /calls/<old> answered');
like($r->{content}, qr{<call id="\Q$call\E">}, 'under the old id');
is(redis('HGET', 'rc:recovery:maps', $call), $new, 'the map in the hash "maps"');
is(redis('HLEN', 'rc:recovery:maps'), 3,
   'with the two dial-outs\', and without the map two days old');
is(redis('ZCARD', 'rc:recovery:maps:at'), 3, 'each with its time');
is(redis('GET', "rc:recovery:map:$legs[0]"),
   (map { $_->{id} } grep { $_->{call} eq $new
                            && $_->{remoteParty} eq 'desk.ex90@tkratzke.local' }
                     @{ state()->{bridges}{core2}{callLegs} })[0],
   'and the dial-out\'s');

# a restarted: its zone is new, the map comes from the hash
$t->stop_nginx('nginx_a');
$t->run_nginx(conf => 'a.conf', key => 'nginx_a', pidfile => $t->dir . '/a.pid',
              ports => [$t->port('proxy_a')]);
ok(wait_for('a translates again', sub {
    my $r = api(a => GET => "/api/v1/callLegs/$legs[1]");
    $r->{status} == 200 && $r->{content} =~ m{<call>\Q$call\E</call>};
}, 20), 'a restarted learns the maps from Redis: GET /callLegs/<old> shows the old ids');

# --- the meeting ends through a: forgotten everywhere

is(api(a => PUT => "/api/v1/cospaces/$space",
       '&nonMemberAccess=false&passcode=&name=TMS_Scheduled_Meeting_1'
       . '&regenerateSecret=true')->{status}, 200, 'slot checked in through a');
ok(wait_for('forgotten', sub { redis('EXISTS', "rc:recovery:m:$new") eq '0' }),
   'the meeting is gone from Redis');

is(api(a => DELETE => "/api/v1/calls/$call")->{status}, 200,
   'TMS ends the call by its old id through a');
ok(!grep({ $_->{id} eq $new } calls_on('core2')), 'the new call is gone from core2');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

$t->stop_nginx('nginx_a');
$t->stop_nginx('nginx_b');

$t->done;
