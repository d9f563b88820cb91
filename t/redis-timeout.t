#!/usr/bin/env perl

# A Redis that does not answer: connect and command timeouts fire,
# requests are not held, reload and stop finish promptly with commands in
# flight, and a batch whose reply was lost to a timeout is not added twice.
#
#   - a listener that accepts and reads but never answers (a "black
#     hole"): connect timeout, "not connected" answers, prompt stop;
#   - redis-server in DEBUG SLEEP: command timeout, requests go on, the
#     batch Redis applied after waking up is skipped on replay;
#   - reload, then stop, while a request waits for a sleeping Redis.
#
# The client timeouts below (5 s) are bounds for "not held", far above
# the configured 300 ms; nothing here measures speed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;

my $json = JSON::PP->new;

sub wait_for {
    my ($what, $cond, $limit) = @_;
    my $deadline = time + ($limit // 10);
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    diag("gave up waiting for $what");
    return 0;
}

sub status {
    my ($port) = @_;
    my $res = $t->http('GET', $port, '/status', timeout => 5);
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

# the black hole: accepts, reads, never writes

my $hole = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                 LocalPort => 0, ReuseAddr => 1)
    or die "listen: $!";
my $B = $hole->sockport;

my $hole_pid = fork() // die "fork: $!";
if ($hole_pid == 0) {
    my $sel = IO::Select->new($hole);
    my @keep;
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $hole) {
                my $c = $hole->accept or next;
                push @keep, $c;
                $sel->add($c);
            } else {
                my $n = sysread($s, my $buf, 65536);
                $sel->remove($s) unless $n;
            }
        }
    }
    exit 0;
}
close $hole;
$t->{pids}{hole} = $hole_pid;

my $conf = <<'EOF';
%%GLOBALS%%
%%REDIS_DEBUG%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_TARGET%% prefix=t: connect_timeout=300ms
              command_timeout=300ms ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /s/ { cms_redis_stream s; return 200 "s\n"; }
        location = /status { cms_redis_status; }
        location /redis/ { cms_redis_debug; }
    }
}
EOF

# --- the black hole

(my $c1 = $conf) =~ s/%%PORT_TARGET%%/$B/;
$t->write_conf($c1);
$t->run_nginx(ports => [$t->port('http')]);

my $H = $t->port('http');

ok(wait_for('timeout', sub {
       (status($H)->{last_error} // '') =~ /timeout/ }),
   'an error once the handshake is not answered');
is(status($H)->{last_error}, 'connect timeout (300 ms)', 'connect timeout');
is(status($H)->{connected}, JSON::PP::false, 'not connected');

my $res = $t->http('GET', $H, '/redis/cmd?a=PING', timeout => 5);
is($res->{status}, 503, 'a command fails');
is($res->{content}, "(failed) not connected\n", 'at once: not connected');

is($t->http('GET', $H, "/s/h$_", timeout => 5)->{status}, 200,
   "request h$_ answered") for 1 .. 3;

ok(wait_for('retry', sub { status($H)->{pubsub}{last_error} }),
   'the pub/sub connection times out too');

my $master = $t->{pids}{nginx};
kill 'QUIT', $master;
ok(wait_for('exit', sub { waitpid($master, WNOHANG) == $master }, 5),
   'graceful stop with the handshake in flight: done within 5 s');
delete $t->{pids}{nginx};

# --- a sleeping redis-server: command timeout, lost reply

$t->start_redis(args => ['--enable-debug-command', 'local']);
my $R = $t->port('redis');

(my $c2 = $conf) =~ s/%%PORT_TARGET%%/$R/;
$t->write_conf($c2);
$t->run_nginx(ports => [$H]);

ok(wait_for('connected', sub { status($H)->{connected} }), 'connected');

sub redis_sleep {
    my ($seconds) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec('redis-cli', '-p', $R, 'DEBUG', 'SLEEP', $seconds);
        exit 1;
    }
    sleep 0.3;
    return $pid;
}

sub redis_cli {
    open(my $fh, '-|', 'redis-cli', '-p', $R, '--raw', @_) or die;
    my @out = <$fh>;
    chomp @out;
    return @out;
}

sub uris {
    my ($key) = @_;
    my @l = redis_cli('XRANGE', "t:$key", '-', '+');
    my @u;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @u, $json->decode($rec)->{uri};
    }
    return \@u;
}

is($t->http('GET', $H, '/s/before')->{status}, 200, 'a record before');
ok(wait_for('idle', sub { status($H)->{stream}{idle} }), 'confirmed');

my $sleeper = redis_sleep(2);

# the first record's batch is written to the sleeping Redis

is($t->http('GET', $H, "/s/$_", timeout => 5)->{status}, 200,
   "request $_ during the sleep") for 1 .. 5;

$res = $t->http('GET', $H, '/redis/cmd?a=GET&a=x', timeout => 5);
like($res->{content},
     qr/^\(failed\) (command timeout \(300 ms\)|not connected)$/m,
     'a command during the sleep fails, bounded by the timeout');

ok(wait_for('timeout', sub {
       (status($H)->{last_error} // '') =~ /timeout/ }),
   'the timeout is reported');
like(status($H)->{last_error}, qr/^(command|connect) timeout \(300 ms\)$/,
     'command or connect timeout');

waitpid($sleeper, 0);

ok(wait_for('connected', sub { status($H)->{connected} }), 'back');
ok(wait_for('idle', sub { status($H)->{stream}{idle} }), 'all confirmed');
is_deeply(uris('s'), [(map { "/s/h$_" } 1 .. 3), '/s/before',
                      (map { "/s/$_" } 1 .. 5)],
          'each record once, in order, after those the first nginx '
          . 'left in its spool');

my $st = status($H);
ok($st->{stream}{duplicates} >= 1,
   'the batch applied after the sleep was skipped on replay');
ok($st->{commands_failed} >= 2, 'failed commands counted');

# --- reload while a request waits for a sleeping Redis

my $old = $st->{pid};
$sleeper = redis_sleep(4);

my $waiting = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$H") or die;
print $waiting "GET /redis/cmd?a=GET&a=x HTTP/1.0\r\n\r\n";
$t->http('GET', $H, "/s/r$_", timeout => 5) for 1 .. 3;

my $t0 = time;
kill 'HUP', $master = $t->{pids}{nginx};

ok(wait_for('old worker gone', sub { !kill 0, $old }, 3.5),
   'the old worker exits before Redis wakes up');

my $answer = '';
while (sysread($waiting, my $buf, 4096)) { $answer .= $buf }
like($answer, qr/\(failed\) (command timeout|not connected|connection lost)/,
     'the waiting request got its answer');

ok(wait_for('new worker', sub { my $p = status($H)->{pid};
                               $p && $p != $old }), 'a new worker answers');

waitpid($sleeper, 0);

ok(wait_for('idle', sub { my $s = status($H);
                          $s->{connected} && $s->{stream}{idle} }, 15),
   'the new worker replays what the old one left');
is_deeply([grep { m{/s/r} } @{ uris('s') }], [map { "/s/r$_" } 1 .. 3],
          'records of the reload, once, in order');

# --- stop while a request waits for a sleeping Redis

$sleeper = redis_sleep(4);

$waiting = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$H") or die;
print $waiting "GET /redis/cmd?a=GET&a=x HTTP/1.0\r\n\r\n";
sleep 0.1;

kill 'QUIT', $master;
ok(wait_for('exit', sub { waitpid($master, WNOHANG) == $master }, 3.5),
   'graceful stop with a command in flight: done before Redis wakes up');
delete $t->{pids}{nginx};

$answer = '';
while (sysread($waiting, my $buf, 4096)) { $answer .= $buf }
like($answer, qr/\(failed\)/, 'the waiting request got an answer');

waitpid($sleeper, 0);

$t->done;
