#!/usr/bin/env perl

# The slot table shared by two nginx instances through Redis: what one
# instance learns and does, the other knows; a double booking through the
# second instance is refused; two instances racing on one free slot give
# it to exactly one meeting; Redis flushed is rebuilt from CMS; Redis
# down degrades to the instance's own zone and comes back.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use IO::Socket::INET;
use CmsTest;
use CmsSeed qw(tms_session id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;


$t->start_sim;

# slots name users nginx verified (auth_basic), never the raw header
$t->write_file('htpasswd', "tms:{PLAIN}x\n");
my $redis = $t->start_redis;

for my $n (qw(a b)) {
    $t->write_conf(<<"EOF", "nginx-$n.conf");
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access-$n.log;

    cms_redis 127.0.0.1:$redis prefix=cms-test: command_timeout=10s;
    cms_slot_check_interval 500ms;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy_$n%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins slots;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location = /slots {
            cms_slots_status;
        }
    }
}
EOF
    my $conf = $t->read_file("nginx-$n.conf");
    $conf =~ s{pid \S+;}{pid %%TESTDIR%%/nginx-$n.pid;};
    $conf =~ s{error_log \S+ debug;}{error_log %%TESTDIR%%/error.log info;};
    $t->write_conf($conf, "nginx-$n.conf");
}

$t->run_nginx(conf => 'nginx-a.conf', key => 'nginx_a',
              pidfile => $t->dir . '/nginx-a.pid',
              ports => [$t->port('proxy_a')]);
$t->run_nginx(conf => 'nginx-b.conf', key => 'nginx_b',
              pidfile => $t->dir . '/nginx-b.pid',
              ports => [$t->port('proxy_b')]);

my %port = (a => $t->port('proxy_a'), b => $t->port('proxy_b'));

sub api {
    my ($via, $method, $path, $body) = @_;
    return $t->http($method, $port{$via}, $path, body => $body,
                    user => 'tms', password => 'x');
}

sub status {
    my ($via) = @_;
    return $json->decode($t->http('GET', $port{$via}, '/slots')->{content});
}

sub pool {
    my ($via) = @_;
    return (grep { $_->{active} } @{ status($via)->{pools} })[0];
}

sub states {
    my ($via) = @_;
    my $p = pool($via) or return '';
    return join ',', map { $_->{state} . ':' . ($_->{meeting} // '') }
                     @{ $p->{slots} };
}

sub wait_for {
    my ($what, $cond) = @_;
    for (1 .. 100) {
        return 1 if $cond->();
        sleep 0.1;
    }
    fail("timed out waiting for $what");
    return 0;
}

sub redis_cli { my $out = `redis-cli -p $redis @_ 2>&1`; chomp $out; $out }

sub open_body {
    my ($name, $secret) = @_;
    return "&nonMemberAccess=true&passcode=&name=$name&secret=$secret";
}

sub close_body {
    my ($index) = @_;
    return '&nonMemberAccess=false&passcode='
         . "&name=TMS_Scheduled_Meeting_$index&regenerateSecret=true";
}

wait_for('redis connected', sub {
    status('a')->{redis}{available} && status('b')->{redis}{available} });

# --- the TMS session through instance A; B follows through Redis

$t->sim('POST', '/_sim/reset');

my $mid_b;
my $tms = tms_session(sub { api('a', @_) },
                      between => sub {
                          wait_for('B sees the meeting', sub {
                              states('b') =~ /^in_use:Tim Kratzke/ });
                          $mid_b = pool('b');
                      });

is(scalar(grep { $_->{status} == 200 } @$tms), 27,
   'TMS session through A: 27 calls, all 200');

ok($mid_b, 'B knows the pool A learned');
is($mid_b->{slots}[0]{state}, 'in_use', 'B: slot 1 in use mid-meeting');
is($mid_b->{slots}[0]{user}, 'tms', 'B: by the user A saw');

wait_for('B sees the end', sub { states('b') eq states('a') });
is(states('b'), join(',', ('free:') x 5), 'B: every slot free at the end');
is(scalar(grep { defined $_->{space} } @{ pool('b')->{slots} }), 5,
   'B knows all five spaces');

my %space = map { $_->{index} => $_->{space} } @{ pool('a')->{slots} };

# --- a double booking through the other instance

is(api('a', PUT => "/api/v1/cospaces/$space{1}", open_body('Meeting A', 'a'))
   ->{status}, 200, 'meeting A books slot 1 through A');

my $r = api('b', PUT => "/api/v1/cospaces/$space{1}",
            open_body('Meeting B', 'b'));
is($r->{status}, 400, 'meeting B on slot 1 through B: refused');
like($r->{content}, qr{<slotInUse rule="double-booking" />}, 'slotInUse');
is((grep { $_->{id} eq $space{1} } @{ $t->sim('GET', '/_sim/state')
   ->{coSpaces} })[0]{name}, 'Meeting A', 'CMS still has meeting A');

# the held set, which cms_slot_max_meetings counts across proxies, under
# its one key (a key built over itself once came out as garbage)
is(redis_cli('ZRANGE cms-test:slots:held 0 -1'), $space{1},
   'slots:held holds slot 1 only');
is(join(',', sort grep { !/slots:space:/ }
            split /\n/, redis_cli('--scan --pattern "cms-test:*slots*"')),
   'cms-test:slots:held', 'and no other slots key besides the spaces');

is(api('b', PUT => "/api/v1/cospaces/$space{1}", open_body('Meeting A', 'a'))
   ->{status}, 200, 'meeting A extends through B');
is(api('b', PUT => "/api/v1/cospaces/$space{1}", close_body(1))->{status},
   200, 'and ends through B');
wait_for('A sees it', sub { states('a') eq states('b') });
is(pool('a')->{slots}[0]{state}, 'free', 'A: slot 1 free again');

# --- two instances racing on one free slot: exactly one wins

my ($wins, $losses, $rounds) = (0, 0, 20);

for my $round (1 .. $rounds) {
    my $i = 2 + $round % 4;
    my @kids;

    # both requests are sent as close together as two processes can
    for my $via (qw(a b)) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            my $res = api($via, PUT => "/api/v1/cospaces/$space{$i}",
                          open_body("Race $round $via", "r$round$via"));
            POSIX::_exit($res->{status} == 200 ? 0
                         : $res->{status} == 400 ? 1 : 2);
        }
        push @kids, $pid;
    }

    my @rc = map { waitpid($_, 0); $? >> 8 } @kids;
    my $won = grep { $_ == 0 } @rc;
    my $lost = grep { $_ == 1 } @rc;

    $wins++ if $won == 1 && $lost == 1;

    my $holder = (grep { $_->{id} eq $space{$i} }
                  @{ $t->sim('GET', '/_sim/state')->{coSpaces} })[0]{name};
    $losses++ unless $holder =~ /^Race $round [ab]$/;

    # whoever won ends it
    my ($via) = $holder =~ / ([ab])$/;
    api($via // 'a', PUT => "/api/v1/cospaces/$space{$i}", close_body($i));
}

is($wins, $rounds, "$rounds races: each time exactly one winner, one 400");
is($losses, 0, 'and CMS holds the winner\'s meeting');

wait_for('both agree', sub { states('a') eq states('b') });
is(states('a'), join(',', ('free:') x 5), 'all free after the races');

# --- a slot record whose version does not parse is corrupt: refused and
# logged (it once counted as the largest version, so the record stayed
# the newest forever and no later change of the slot was applied)

is(api('a', PUT => "/api/v1/cospaces/$space{5}", open_body('Real', 're'))
   ->{status}, 200, 'a meeting in slot 5 through A');
wait_for('B sees it', sub { states('b') =~ /in_use:Real$/ });
my $rec5 = redis_cli("HGET cms-test:slots:space:$space{5} rec");
like($rec5, qr/Real/, 'its record in Redis');
is(api('a', PUT => "/api/v1/cospaces/$space{5}", close_body(5))->{status},
   200, 'and ended through A');
wait_for('B sees the end', sub { states('b') eq states('a') });

# the in-use record once more, after a version that is not a number
my $bad_version = sub {
    scalar(() = $t->error_log
        =~ /slot record from redis with an invalid version/g) };
my $bad0 = $bad_version->();
open(my $pub, '-|', 'redis-cli', '-p', $redis, 'PUBLISH', 'cms-test:slots',
     "12x\x1f$rec5") or die "redis-cli: $!";
my $heard = <$pub>;
close $pub;
cmp_ok($heard, '>=', 2, 'published to both instances');
ok(wait_for('the refusal logged', sub { $bad_version->() > $bad0 }),
   'a record with an unparsable version: an error line');
is(states('b'), join(',', ('free:') x 5), 'B: refused, slot 5 still free');
is(states('a'), states('b'), 'A too');

is(api('b', PUT => "/api/v1/cospaces/$space{5}", open_body('Later', 'la'))
   ->{status}, 200, 'a later meeting in slot 5 through B');
ok(wait_for('A sees it', sub { states('a') =~ /in_use:Later$/ }),
   'A applies the later change');
is(api('b', PUT => "/api/v1/cospaces/$space{5}", close_body(5))->{status},
   200, 'and it ends');
wait_for('both agree again', sub { states('a') eq states('b') });

# --- Redis promoted a replica that missed the last writes (a Sentinel
# failover): its record of slot 4 is older than what both zones applied.
# Deciding on it once let a second meeting into a slot in use, and let a
# close pass as "nothing to do" while both zones kept the slot in use
# (the chaos soak's slot tables).  The zone's newer version wins.

my $key4 = "cms-test:slots:space:$space{4}";
my ($rec4, $v4) = (redis_cli("HGET $key4 rec"), redis_cli("HGET $key4 v"));
like($v4, qr/^\d+$/, 'slot 4 has a record in Redis');
my $stale4 = sub {
    system('redis-cli', '-p', $redis, 'HSET', $key4, 'st', '0', 'k', '0',
           'nk', '0', 'rec', $rec4, 'v', $v4);
    system('redis-cli', '-p', $redis, 'ZREM', 'cms-test:slots:held',
           $space{4});
};

is(api('a', PUT => "/api/v1/cospaces/$space{4}", open_body('Held', 'h'))
   ->{status}, 200, 'a meeting in slot 4 through A');
ok(wait_for('B sees it', sub { states('b') =~ /^(?:[^,]*,){3}in_use:Held,/ }),
   'B has it in use');

$stale4->();
$r = api('b', PUT => "/api/v1/cospaces/$space{4}",
         open_body('Intruder', 'i'));
is($r->{status}, 400, 'Redis stale (free, older version): a second '
   . 'meeting through B is still refused');
is((grep { $_->{id} eq $space{4} } @{ $t->sim('GET', '/_sim/state')
   ->{coSpaces} })[0]{name}, 'Held', 'CMS still has the first');

$stale4->();
is(api('b', PUT => "/api/v1/cospaces/$space{4}", close_body(4))->{status},
   200, 'Redis stale again: the meeting ends through B');
ok(wait_for('both free', sub {
       states('a') eq states('b') && states('b') !~ /Held/ }),
   'both zones have slot 4 free');
is(states('a'), join(',', ('free:') x 5), 'A: all free');

# and a Redis that says free at a newer version (the zones never heard
# of it): a close the bridge took is a check-in all the same, told to
# every instance
is(api('a', PUT => "/api/v1/cospaces/$space{4}", open_body('Again', 'g'))
   ->{status}, 200, 'slot 4 in use again through A');
ok(wait_for('B sees it', sub { states('b') =~ /in_use:Again/ }), 'B too');
($rec4, $v4) = (redis_cli("HGET $key4 rec") =~ s/Again//r,
                redis_cli("HGET $key4 v") + 100);
$stale4->();
is(api('b', PUT => "/api/v1/cospaces/$space{4}", close_body(4))->{status},
   200, 'the meeting ends through B');
ok(wait_for('A hears of it', sub { states('a') !~ /Again/ }),
   'A has slot 4 free as well');

# --- a meeting ended on the bridge behind the proxies' back (CMS's own
# web interface): reconciliation through B corrects B and, through
# Redis, A.  With Redis, a listing corrected nothing, reconciliation's
# own listing included: only spaces it did not list were.

is(api('a', PUT => "/api/v1/cospaces/$space{1}", open_body('Direct', 'd'))
   ->{status}, 200, 'a meeting in slot 1 through A');
ok(wait_for('B sees it', sub { states('b') =~ /^in_use:Direct,/ }),
   'B has it in use');
is($t->http('PUT', $t->port('core1'), "/api/v1/coSpaces/$space{1}",
            body => close_body(1), user => 'admin', password => 'secret1')
   ->{status}, 200, 'the bridge itself ends it');
is($t->http('POST', $port{b}, '/slots?reconcile')->{status}, 200,
   'reconciliation through B');
like(states('b'), qr/^free:,/, 'B: slot 1 free');
ok(wait_for('A hears of it', sub { states('a') =~ /^free:,/ }),
   'A: slot 1 free');

# --- Redis flushed: rebuilt from CMS

is(api('a', PUT => "/api/v1/cospaces/$space{2}", open_body('Kept', 'k'))
   ->{status}, 200, 'a meeting in slot 2');

my $keys = sub { scalar grep { /slots:space:/ }
                 split /\n/, redis_cli('--scan --pattern "cms-test:*"') };
is($keys->(), 5, 'Redis holds the five slot spaces');

redis_cli('FLUSHALL');
is($keys->(), 0, 'Redis flushed');

my $rc = $t->http('POST', $port{a}, '/slots?reconcile');
is($rc->{status}, 200, 'reconciliation through A') or diag($rc->{content});
is($keys->(), 5, 'Redis has the five spaces again');
like(redis_cli("HGET cms-test:slots:space:$space{2} rec"), qr/Kept/,
     'with the meeting CMS has in slot 2');

$r = api('b', PUT => "/api/v1/cospaces/$space{2}", open_body('Other', 'o'));
is($r->{status}, 400, 'and a double booking through B is still refused');

# --- Redis down: each instance decides alone; back: reconciled

is(api('a', PUT => "/api/v1/cospaces/$space{5}", open_body('Before', 'bf'))
   ->{status}, 200, 'a meeting in slot 5 before Redis goes');
ok(wait_for('B sees it', sub { states('b') =~ /in_use:Before$/ }),
   'B has it in use');

$t->stop_process('redis');
wait_for('A sees Redis gone', sub { !status('a')->{redis}{available} });
like(status('a')->{redis}{degraded}, qr/decides alone/, 'degraded: open');

is(api('a', PUT => "/api/v1/cospaces/$space{3}", open_body('Alone', 'al'))
   ->{status}, 200, 'a check-out with Redis down (cms_slot_redis_down open)');
is(api('a', PUT => "/api/v1/cospaces/$space{2}", open_body('Other', 'o'))
   ->{status}, 400, 'the zone still refuses a double booking');
is(api('a', PUT => "/api/v1/cospaces/$space{5}", close_body(5))->{status},
   200, 'the meeting of slot 5 ends through A alone');

$t->start_redis;
wait_for('A sees Redis back', sub { status('a')->{redis}{available} });
wait_for('reconciled into Redis', sub {
    redis_cli("HGET cms-test:slots:space:$space{3} rec") =~ /Alone/ });
like(redis_cli("HGET cms-test:slots:space:$space{3} rec"), qr/Alone/,
     'Redis back: the meeting made while it was down is in Redis');

# The meeting of slot 5 ended through A alone; Redis came back empty.
# Versions counted again from nothing once gave A's records versions B
# had applied already, and B kept the slot in use for good.
ok(wait_for('B hears of both', sub {
       states('b') =~ /in_use:Alone/ && states('b') !~ /Before/ }),
   'B: the meeting made alone is in use, the one ended alone is free')
    or diag(states('b') . ' A: ' . states('a') . ' redis: ' . redis_cli("HMGET cms-test:slots:space:$space{5} v rec"));

# --- fast shutdown (SIGTERM) while a check-out waits for Redis's word:
# the worker exits without sending that write to the bridge (its client
# never hears an answer, so the bridge must not act on it either)

# Redis back and the table written back to it: a reconciliation still
# running would keep the check-out from Redis (the zone would decide it)
wait_for('A connected again and reconciled', sub {
    my $s = status('a');
    $s->{redis}{available} && !$s->{reconciliation}{running} });
kill 'STOP', $t->{pids}{redis};
$t->sim('DELETE', '/_sim/requests');

my $body = open_body('Shutdown', 'sd');
my $queued0 = redis_queued();
my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port{a}")
    or die "connect: $!";
print $sock "PUT /api/v1/cospaces/$space{4} HTTP/1.1\r\n"
          . "Host: localhost\r\nAuthorization: Basic dG1zOng=\r\n"
          . "Content-Type: application/x-www-form-urlencoded\r\n"
          . "Content-Length: " . length($body) . "\r\n"
          . "Connection: close\r\n\r\n$body";

# Redis is stopped: what nginx sends it stays in the kernel, unread, in
# the receive queues of redis-server's connections.  The check-out's
# decide script (keys, the meeting's record: some hundreds of bytes)
# landing there is the PUT waiting on Redis (command_timeout is 10s; a
# PING would be 14 bytes).
ok(wait_for('the decide script queued at Redis',
            sub { redis_queued() > $queued0 + 200 }),
   'the PUT is waiting on Redis: its script sits unread at redis-server')
    or diag('queued: ' . redis_queued() . " bytes, before: $queued0");

sub redis_queued {
    my $port = sprintf '%04X', $redis;
    my $n = 0;
    open my $fh, '<', '/proc/net/tcp' or return 0;
    while (<$fh>) {
        my @f = split;
        next unless ($f[1] // '') eq "0100007F:$port" && $f[3] eq '01';
        $n += hex((split /:/, $f[4])[1]);
    }
    return $n;
}

my $master = delete $t->{pids}{nginx_a};
kill 'TERM', $master;
ok(wait_for('A gone', sub { waitpid($master, WNOHANG) == $master }),
   'A stops at once');

my $answer = <$sock>;
ok(!defined $answer, 'the waiting client gets no answer, the connection '
                     . 'is closed');
# Redis had the check-out until the worker exited (then the zone was
# left to decide it, and the worker never sent it on)
my $space4 = $space{4};
my @why = $t->error_log =~ /redis (?:is not available for|could not decide) the PUT to space "\Q$space4\E": ([^;,]*)/g;
is("@why", 'worker exiting',
   'Redis, not the zone, had the check-out to decide until the worker exited');

my $log = $t->sim('GET', '/_sim/requests');
is(scalar(grep { $_->{method} eq 'PUT' } @$log), 0,
   'the waiting PUT never reached the bridge');

kill 'CONT', $t->{pids}{redis};

$t->done;
