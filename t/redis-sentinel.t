#!/usr/bin/env perl

# Redis Sentinel: the master is found through a Sentinel, and when the
# master dies the Sentinel promotes the replica and the module follows
# (+switch-master, or asking again): the status names the new master and
# records keep landing, each once, in order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;

my $json = JSON::PP->new;

sub rcli {
    my ($port, @args) = @_;
    open(my $fh, '-|', 'redis-cli', '-p', $port, '--raw', @args)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

my $M = $t->start_redis(key => 'redis');
my $S = $t->start_redis(key => 'replica',
    args => ['--replicaof', '127.0.0.1', $t->port('redis')]);

ok(wait_for('replication', sub {
       grep { /^master_link_status:up/ } rcli($S, 'INFO', 'replication')
   }, 20), 'the replica is in sync');

my $SP = $t->port('sentinel');
my $dir = $t->dir;

$t->write_file('sentinel.conf', <<"EOF");
port $SP
bind 127.0.0.1
dir $dir
logfile $dir/sentinel.log
sentinel monitor m 127.0.0.1 $M 1
sentinel down-after-milliseconds m 1000
sentinel failover-timeout m 5000
sentinel parallel-syncs m 1
EOF

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    exec('redis-sentinel', "$dir/sentinel.conf") or die "exec: $!";
}
$t->{pids}{sentinel} = $pid;
$t->wait_port($SP);

ok(wait_for('the sentinel sees the replica', sub {
       grep { /^127\.0\.0\.1$/ } rcli($SP, 'SENTINEL', 'replicas', 'm')
   }, 20), 'the sentinel knows the replica');

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis_sentinel 127.0.0.1:%%PORT_sentinel%% master=m;
    cms_redis sentinel prefix=t: connect_timeout=500ms command_timeout=500ms
              ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /m/ { cms_redis_stream m; return 200 "m\n"; }
        location = /status { cms_redis_status; }
    }
}
EOF

$t->run_nginx(ports => [$t->port('http')]);

my $H = $t->port('http');

sub status {
    my $res = $t->http('GET', $H, '/status');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub uris {
    my ($port) = @_;
    my @l = rcli($port, 'XRANGE', 't:m', '-', '+');
    my @u;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @u, $json->decode($rec)->{uri};
    }
    return \@u;
}

sub idle { my $s = status(); $s->{connected} && $s->{stream}{idle} }

ok(wait_for('connected', sub { status()->{connected} }), 'connected');

my $st = status();
is($st->{sentinel}{master_name}, 'm', 'status: master name');
is($st->{sentinel}{master}, "127.0.0.1:$M", 'status: the master');
is($st->{sentinel}{sentinel}, "127.0.0.1:$SP", 'status: the sentinel');
is($st->{sentinel}{state}, 'connected', 'sentinel connection up');
is($st->{address}, "127.0.0.1:$M", 'the command connection is there');
is($st->{pubsub}{address}, "127.0.0.1:$M", 'and the pub/sub one');

$t->http('GET', $H, "/m/$_") for 1 .. 20;
ok(wait_for('idle', \&idle), 'twenty records confirmed');

# make sure the replica has them before the master dies: Redis
# replication is asynchronous, a failover can lose acknowledged writes
is((rcli($M, 'WAIT', 1, 5000))[0], 1, 'replicated');

$t->stop_process('redis', 'KILL');

my $ok = 0;
for my $i (21 .. 40) {
    $ok++ if $t->http('GET', $H, "/m/$i", timeout => 5)->{status} == 200;
    sleep 0.1;
}
is($ok, 20, 'requests answered during the failover');

ok(wait_for('switch-over', sub {
       (status()->{sentinel}{master} // '') eq "127.0.0.1:$S"
   }, 30), 'the module follows the new master');
ok(wait_for('connected', sub { status()->{connected} }, 10),
   'connected to it');

$st = status();
is($st->{address}, "127.0.0.1:$S", 'command connection on the new master');
ok($st->{sentinel}{switches} >= 1, 'the switch is counted');

$t->http('GET', $H, "/m/$_") for 41 .. 50;
ok(wait_for('idle', \&idle, 15), 'records keep landing');

is_deeply(uris($S), [map { "/m/$_" } 1 .. 50],
          'on the new master: all fifty, once, in order');
is(status()->{stream}{lost}, 0, 'nothing lost');

# the old master comes back (empty: no persistence in this test).
# Sentinel may demote it, or, on a loaded machine where the new master
# misses its pings, fail over back to it; either way the module must
# follow Sentinel's master and keep landing records there.

$t->start_redis(key => 'redis');

$t->http('GET', $H, "/m/$_") for 51 .. 55;
ok(wait_for('idle', \&idle, 30), 'still landing');

my $master = status()->{sentinel}{master} // '';
my ($mport) = $master =~ /:(\d+)$/;
my @last = @{ uris($mport) }[-5 .. -1];
is_deeply(\@last, [map { "/m/$_" } 51 .. 55],
          "the last five on the master Sentinel names ($master)");

$t->done;
