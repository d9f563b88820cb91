#!/usr/bin/env perl

# cms_redis_spool ... mode=fallback: records are sent from memory and
# reach the spool file only when Redis cannot take them promptly.
#
#   - Redis up: every record lands once, in order, and nothing but the
#     header is ever written to the spool file;
#   - 300 requests while redis-server is killed with SIGKILL and
#     restarted (AOF, appendfsync always): the records of the outage go
#     through the spool, every record exactly once, in order;
#   - nginx stopped while Redis is down: what waits is spooled at exit
#     and replayed by the next nginx.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time stat);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=500ms
              command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool mode=fallback max_size=10m;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /a/ { cms_redis_stream a; return 200 "a\n"; }
        location /b/ { cms_redis_stream b maxlen=0; return 200 "b\n"; }
        location /c/ { cms_redis_stream c; return 200 "c\n"; }

        location = /status { cms_redis_status; }
    }
}
EOF

my $H = $t->port('http');
our $R = $t->port('redis');
my $json = JSON::PP->new;
my @redis_args = ('--appendonly', 'yes', '--appendfsync', 'always');

sub status {
    my $res = $t->http('GET', $H, '/status');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub rcli {
    open(my $fh, '-|', 'redis-cli', '-p', $R, '--raw', @_)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

sub uris {
    my ($key) = @_;
    my @l = rcli('XRANGE', "t:$key", '-', '+');
    my @u;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @u, $json->decode($rec)->{uri};
    }
    return \@u;
}

# record lines in a spool file: everything after its header line

sub spooled {
    my ($file) = @_;
    open(my $fh, '<', $file) or return 0;
    my @l = <$fh>;
    close $fh;
    return @l ? @l - 1 : 0;
}

sub idle { my $s = status(); $s->{connected} && $s->{stream}{idle} }

# --- Redis up: memory only

$t->start_redis(args => \@redis_args);
$t->run_nginx(ports => [$H]);

ok(wait_for('connected', sub { status()->{connected} }), 'connected');

my $file = status()->{stream}{spool_file};
ok(defined $file && -f $file, 'a spool file of its own, on disk')
    or diag('spool file: ' . ($file // 'none'));
$file //= $t->dir . '/no-spool-file';

# nothing may touch it: a write and the cut back would both show in mtime
my $mtime = (stat $file)[9];
my $written = 0;

for my $i (1 .. 200) {
    $t->http('GET', $H, "/a/$i");
    $written += spooled($file) if $i % 10 == 0;
}

ok(wait_for('idle', \&idle), 'all confirmed');
is_deeply(uris('a'), [map { "/a/$_" } 1 .. 200], 'all 200, in order, once');
is($written + spooled($file), 0, 'no record written to the spool file');
ok(defined $mtime && (stat $file)[9] == $mtime,
   'the spool file not even touched');
is(status()->{stream}{spooled_bytes}, 0, 'none spooled');

# --- kill -9 and restart redis-server during 300 requests

my ($ok, $down, $in_file) = (0, 0, 0);

for my $i (1 .. 300) {
    if ($i == 100) {
        $t->stop_process('redis', 'KILL');
    }

    if ($i == 200) {
        $in_file = spooled($file);
        $t->start_redis(args => \@redis_args);
    }

    my $res = $t->http('GET', $H, "/b/$i", timeout => 5);
    $ok++ if $res->{status} == 200;
    $down++ if $i >= 100 && $i < 200 && !status()->{connected};
}

is($ok, 300, 'every request answered');
ok($down > 0, 'Redis was seen down');
ok($in_file > 0, "the outage went to the spool file ($in_file records)");

ok(wait_for('connected', sub { status()->{connected} }, 15),
   'reconnected after the restart');
ok(wait_for('idle', \&idle, 20), 'everything confirmed');

is_deeply(uris('b'), [map { "/b/$_" } 1 .. 300],
          'each exactly once, in order');

my $st = status();
is($st->{stream}{added}, 500, 'added');
is($st->{stream}{lost}, 0, 'nothing lost');
is($st->{stream}{memory}, 0, 'nothing left in memory');
is(spooled($file), 0, 'the spool file cut back to its header');
diag("duplicates skipped after the kill: $st->{stream}{duplicates}");

# --- nginx stopped while Redis is down: spooled at exit, replayed

$t->stop_process('redis', 'KILL');
ok(wait_for('down', sub { !status()->{connected} }), 'Redis gone');

$t->http('GET', $H, "/c/$_") for 1 .. 10;

$t->stop_nginx;

my @left = glob($t->dir . '/spool/cms-redis.*.spool');
my $kept = 0;
$kept += spooled($_) for @left;
is($kept, 10, 'the ten records are in the spool after exit');

$t->start_redis(args => \@redis_args);
$t->run_nginx(ports => [$H]);

ok(wait_for('idle', \&idle, 15), 'replayed by the next nginx');
is_deeply(uris('c'), [map { "/c/$_" } 1 .. 10], 'in order, once');
like($t->error_log, qr/replaying spool file/, 'the replay is logged');

$t->done;
