#!/usr/bin/env perl

# Two proxy instances sharing one Redis agree on the active bridge: a
# change decided by either (health check or operator) is made by an
# atomic script that refuses a stale epoch and announced on pub/sub, so
# both switch, at the same epoch.  With Redis down each instance still
# fails over on its own, and they agree again when it is back.
#
# No timing is asserted: each step polls both status endpoints until
# both show the expected state.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;
my $R = $t->start_redis;

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    cms_redis 127.0.0.1:%%PORT_redis%% prefix=fo: connect_timeout=1s;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=300ms;
        cms_failback manual;
        cms_discovery off;
    }

    server {
        listen 127.0.0.1:%%PORT_PROXY%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
        }

        location = /cms-status { cms_status detail; }
        location /cms-admin/ { cms_admin; }
    }
}
EOF

for my $i ('a', 'b') {
    my $c = $conf;
    $c =~ s/%%PORT_PROXY%%/%%PORT_proxy_$i%%/;
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

sub status {
    my ($i) = @_;
    my $r = $t->http('GET', $P{$i}, '/cms-status');
    return undef unless $r->{status} == 200;
    return $t->{json}->decode($r->{content})->{upstreams}[0];
}

# both instances, polled until the condition holds for both
sub both {
    my ($cond) = @_;
    my $deadline = time + 15;
    my ($sa, $sb);
    while (time < $deadline) {
        ($sa, $sb) = (status('a'), status('b'));
        return ($sa, $sb) if $sa && $sb && $cond->($sa) && $cond->($sb);
        sleep 0.05;
    }
    diag(explain([$sa, $sb]));
    return ();
}

sub redis_state {
    my %h = split /\n/, `redis-cli -p $R --raw HGETALL fo:failover:cms`;
    return \%h;
}

sub admin {
    my ($i, $what) = @_;
    my $r = $t->http('POST', $P{$i}, "/cms-admin/$what");
    return $r->{status} == 200 || $r->{status} == 409
           ? $t->{json}->decode($r->{content}) : undef;
}

sub fault {
    my ($bridge, $mode) = @_;
    $t->sim('PUT', "/_sim/bridges/$bridge/fault", { mode => $mode });
}

# --- the start: both in Redis, agreed on the primary

my ($a, $b) = both(sub {
    $_[0]{redis}{enabled} && $_[0]{redis}{available}
    && !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} };
});
ok($a && $b, 'both instances up, Redis available to both');
is($a->{active}, 'core1', 'a: core1');
is($b->{active}, 'core1', 'b: core1');
is($a->{epoch}, $b->{epoch}, 'same epoch');
isnt($a->{redis}{origin}, $b->{redis}{origin}, 'two distinct instances');

my $st = redis_state();
is($st->{active}, 'core1', 'Redis: core1 active');
is($st->{epoch}, $a->{epoch}, 'Redis: the same epoch');

my $epoch = $a->{epoch};

# --- an operator on a: both switch

my $res = admin('a', 'failover?to=core2');
is($res->{result}, 'changed', 'manual failover on a');
is($res->{epoch}, $epoch + 1, 'at the next epoch');

($a, $b) = both(sub { $_[0]{active} eq 'core2' });
ok($a && $b, 'both instances switched to core2');
is($b->{epoch}, $epoch + 1, 'b: the same epoch as a');
ok($b->{manual}, 'b: a manual choice, as on a');
like($b->{by}, qr/^admin\@127\.0\.0\.1$/, 'b: by the operator on a');
is(redis_state()->{active}, 'core2', 'Redis: core2');

like($t->error_log, qr/\[notice\].*active bridge "core1" -> "core2", epoch ${\ ($epoch + 1)}, by admin\@127\.0\.0\.1 \(adopted\)/,
     'b logged the change it adopted');
my $events = () = $t->error_log =~ /cms event failover core2: \{[^}]*"epoch":${\ ($epoch + 1)},/g;
is($events, 1, 'the event was emitted once, by the instance that decided');

$t->sim('DELETE', '/_sim/requests');
is($t->http('GET', $P{b}, '/api/v1/coSpaces')->{status}, 200, 'b serves');
is(join(',', map { $_->{bridge} } grep { $_->{path} eq '/api/v1/coSpaces' }
                @{ $t->sim_requests }), 'core2', 'from core2');

# --- the call map is shared: a call started through a is found through b

$res = admin('a', 'failback');
is($res->{active}, 'core1', 'failback to core1 (through a)');
($a, $b) = both(sub { $_[0]{active} eq 'core1' });
ok($a && $b, 'both on core1');

my $space = ($t->http('POST', $P{a}, '/api/v1/coSpaces', body => 'name=Shared')
             ->{headers}{location} // '') =~ m{/([^/]+)$} ? $1 : undef;
my $call = ($t->http('POST', $P{a}, '/api/v1/calls', body => "coSpace=$space")
            ->{headers}{location} // '') =~ m{/([^/]+)$} ? $1 : undef;
ok($call, 'a call started through a, on core1');

($a, $b) = both(sub { $_[0]{calls}{tracked} >= 1 });
ok($a && $b, 'both instances know where it runs');

is(admin('b', 'failover?to=core2')->{active}, 'core2', 'failover to core2 (through b)');
($a, $b) = both(sub { $_[0]{active} eq 'core2' });
ok($a && $b, 'both on core2');

$t->sim('DELETE', '/_sim/requests');
my $r = $t->http('GET', $P{b}, "/api/v1/calls/$call");
is($r->{status}, 200, 'GET the call through b: 200');
is(join(',', map { $_->{bridge} } grep { $_->{path} =~ m{/calls/} } @{ $t->sim_requests }),
   'core1', 'from core1, where it runs, learned through Redis');

# a restarted instance loads the map

$t->stop_nginx('nginx_b');
my $call2 = ($t->http('POST', $P{a}, '/api/v1/calls', body => 'name=Later')
             ->{headers}{location} // '') =~ m{/([^/]+)$} ? $1 : undef;
ok($call2, 'another call, through a, on core2, while b is stopped');
$t->run_nginx(conf => 'b.conf', key => 'nginx_b', pidfile => $t->dir . '/b.pid',
              ports => [$t->port('proxy_b')]);
($a, $b) = both(sub { $_[0]{redis}{available} && $_[0]{calls}{tracked} >= 2 });
ok($a && $b, 'b restarted and loaded the call map');
is($b->{active}, 'core2', 'and the active bridge');

is(admin('a', 'failback')->{active}, 'core1', 'failback to core1');
($a, $b) = both(sub { $_[0]{active} eq 'core1' });
ok($a && $b, 'both on core1');

$t->sim('DELETE', '/_sim/requests');
$r = $t->http('GET', $P{b}, "/api/v1/calls/$call2");
is($r->{status}, 200, 'GET the later call through b: 200');
is(join(',', map { $_->{bridge} } grep { $_->{path} =~ m{/calls/} } @{ $t->sim_requests }),
   'core2', 'from core2, where it runs: b loaded that from Redis');

is(admin('a', 'failover?to=core2')->{active}, 'core2', 'back to core2');
($a, $b) = both(sub { $_[0]{active} eq 'core2' });
ok($a && $b, 'both on core2');

# --- a health check decides: both instances see it, one epoch only

$epoch = $b->{epoch};
fault('core2', 'refuse');

($a, $b) = both(sub { $_[0]{active} eq 'core1' });
ok($a && $b, 'core2 dies: both instances on core1');
is($a->{epoch}, $epoch + 1, 'one change, not one per instance');
is($b->{epoch}, $epoch + 1, 'the same on b');
is(redis_state()->{epoch}, $epoch + 1, 'Redis agrees');

my $lost = $a->{redis}{worker}{lost} + $b->{redis}{worker}{lost};
diag("proposals lost to the other instance: $lost");

fault('core2', 'none');
($a, $b) = both(sub { !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} } });
ok($a && $b, 'core2 back');

# the primary dies: both switch to the backup
$epoch = $a->{epoch};
fault('core1', 'refuse');
($a, $b) = both(sub { $_[0]{active} eq 'core2' });
ok($a && $b, 'core1 dies: both instances on core2');
is($a->{epoch}, $b->{epoch}, 'at the same epoch');
is($a->{epoch}, $epoch + 1, 'one change');
fault('core1', 'none');

# --- a newer epoch from elsewhere wins everywhere

($a, $b) = both(sub { !grep { $_->{health} ne 'up' } @{ $_[0]{bridges} } });
ok($a && $b, 'core1 back');
$epoch = $a->{epoch};
# as the script would: the hash, then the message
my $now = int time;
my $msg = join "\n", 100, 'core1', 0, $now, 'elsewhere:1', 'core2', 'someone', 'external change';
system("redis-cli -p $R HSET fo:failover:cms epoch 100 active core1 manual 0 "
       . "at $now origin elsewhere:1 from core2 by someone why 'external change' "
       . ">/dev/null") == 0
    or die 'redis-cli';
system("redis-cli -p $R PUBLISH fo:failover:cms '$msg' >/dev/null") == 0 or die 'redis-cli';

($a, $b) = both(sub { $_[0]{epoch} == 100 });
ok($a && $b, 'a change at epoch 100 published by a third party: adopted by both');
is($a->{active}, 'core1', 'a: core1');
is($b->{active}, 'core1', 'b: core1');
is($a->{why}, 'external change', 'with its reason');

# a stale message loses: after it, and after more syncs, still epoch 100
$msg = join "\n", 50, 'core2', 0, time, 'elsewhere:1', 'core1', 'someone', 'stale';
system("redis-cli -p $R PUBLISH fo:failover:cms '$msg' >/dev/null") == 0 or die 'redis-cli';
my $syncs = $a->{redis}{worker}{syncs} > $b->{redis}{worker}{syncs}
            ? $a->{redis}{worker}{syncs} : $b->{redis}{worker}{syncs};
($a, $b) = both(sub { $_[0]{redis}{worker}{syncs} >= $syncs + 2 });
ok($a && $b, 'both synced with Redis twice since');
is($a->{epoch}, 100, 'a stale message at epoch 50: a still at 100');
is($b->{epoch}, 100, 'b still at 100');
is($a->{active}, 'core1', 'a: still core1');
is($b->{active}, 'core1', 'b: still core1');

$res = admin('b', 'failover?to=core2');
is($res->{epoch}, 101, 'the next change (from b) is epoch 101');
($a, $b) = both(sub { $_[0]{epoch} == 101 && $_[0]{active} eq 'core2' });
ok($a && $b, 'both at 101, on core2');

# a proposal decided on a stale epoch loses: Redis is moved to a newer
# epoch behind a's back (no announcement), then a proposes a change built
# on the epoch it knows.  Only a's once-a-second sync could tell it first:
# a round in which a synced between the move and its proposal proves
# nothing, and is done again higher up.

my ($late, $epoch);
for my $round (1 .. 5) {
    $epoch = 100 * ($round + 1);
    my $syncs0 = status('a')->{redis}{worker}{syncs};
    my $known = status('a')->{epoch};
    $now = int time;
    system("redis-cli -p $R HSET fo:failover:cms epoch $epoch active core1 "
           . "manual 0 at $now origin elsewhere:1 from core2 by someone "
           . "why 'behind your back' >/dev/null") == 0
        or die 'redis-cli';
    $late = admin('a', 'failover?to=core1&reason=late');
    last if status('a')->{redis}{worker}{syncs} == $syncs0
            && $known < $epoch;
    diag("round $round: a synced with Redis meanwhile; again");
    undef $late;
}
ok($late, 'a proposed a change on a stale epoch');
is($late->{result}, 'conflict', 'refused (409)');
is($late->{epoch}, $epoch, "with the current epoch, $epoch, not one more");
($a, $b) = both(sub { $_[0]{epoch} == $epoch && $_[0]{active} eq 'core1' });
ok($a && $b, "both adopted Redis's state: core1 at epoch $epoch");
is(redis_state()->{epoch}, $epoch, 'Redis kept it');

is(admin('b', 'failover?to=core2')->{active}, 'core2', 'back to core2');
($a, $b) = both(sub { $_[0]{active} eq 'core2' });
ok($a && $b, 'both on core2');

# --- Redis goes away: each instance on its own, and they agree again

$t->stop_process('redis', 'KILL');
($a, $b) = both(sub { !$_[0]{redis}{available} });
ok($a && $b, 'Redis down: both know');

$res = admin('a', 'failback');
is($res->{result}, 'changed', 'a fails back on its own');
is($res->{active}, 'core1', 'to core1');
is(status('a')->{active}, 'core1', 'a: core1');
is(status('b')->{active}, 'core2', 'b: still core2, it could not be told');

$t->start_redis(key => 'redis');
($a, $b) = both(sub { $_[0]{redis}{available} && $_[0]{active} eq 'core1' });
ok($a && $b, 'Redis back: b adopted a\'s newer state');
is($a->{epoch}, $b->{epoch}, 'the same epoch again');
is(redis_state()->{epoch}, $a->{epoch}, 'and Redis has it');

$t->done;
