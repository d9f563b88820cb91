#!/usr/bin/env perl

# Redis going away and coming back, and nginx dying: records are spooled,
# replayed in order and never duplicated.
#
#   - Redis absent at start, started later: the module connects, the
#     spool is replayed;
#   - 300 requests while redis-server is killed with SIGKILL and
#     restarted (AOF, appendfsync always, so what Redis acknowledged
#     survives): every record exactly once, in order, no stuck request;
#   - nginx killed with SIGKILL while records wait in its spool: a new
#     nginx claims the dead worker's file and replays it;
#   - a spool file whose first records were already applied (a lost
#     reply): those are skipped by the sequence check, a torn last line
#     and a garbage line are skipped and counted;
#   - no spool: records wait in memory while Redis is down, and what is
#     still there when nginx stops is reported lost.

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

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=500ms
              command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool mode=always;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        large_client_header_buffers 4 64k;

        location /a/ { cms_redis_stream a; return 200 "a\n"; }
        location /b/ { cms_redis_stream b maxlen=0; return 200 "b\n"; }
        location /c/ { cms_redis_stream c; return 200 "c\n"; }
        location /f/ { cms_redis_stream f; return 200 "f\n"; }

        location = /status { cms_redis_status; }
    }
}
EOF

my $H = $t->port('http');
our $R = $t->port('redis');
my $json = JSON::PP->new;
my @redis_args = ('--appendonly', 'yes', '--appendfsync', 'always');

sub status {
    my ($port) = @_;
    my $res = $t->http('GET', $port // $H, '/status');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub rcli {
    my (@args) = @_;
    open(my $fh, '-|', 'redis-cli', '-p', $R, '--raw', @args)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

sub uris {
    my ($key, $port) = @_;
    local $R = $port // $R;
    my @l = rcli('XRANGE', "t:$key", '-', '+');
    my @u;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @u, $json->decode($rec)->{uri};
    }
    return \@u;
}

sub idle { my $s = status(); $s->{connected} && $s->{stream}{idle} }

# --- Redis absent at start

$t->run_nginx(ports => [$H]);

ok(wait_for('an error', sub { defined status()->{last_error} }),
   'an error is reported');
my $st = status();
is($st->{connected}, JSON::PP::false, 'not connected');
like($st->{last_error}, qr/connect.*refused/i, 'connection refused');

is($t->http('GET', $H, "/a/$_")->{status}, 200, "request $_ without Redis")
    for 1 .. 20;

$st = status();
is($st->{stream}{added}, 20, 'twenty records taken');
ok($st->{stream}{spooled_bytes} > 0, 'in the spool');

$t->start_redis(args => \@redis_args);

ok(wait_for('connected', sub { status()->{connected} }, 15),
   'connects once Redis is there');
ok(wait_for('idle', \&idle), 'spool replayed');
is_deeply(uris('a'), [map { "/a/$_" } 1 .. 20],
          'all twenty, in order, once');

# --- kill -9 and restart redis-server during 300 requests

my ($ok, $down) = (0, 0);

for my $i (1 .. 300) {
    if ($i == 100) {
        $t->stop_process('redis', 'KILL');
    }

    if ($i == 200) {
        $t->start_redis(args => \@redis_args);
    }

    my $res = $t->http('GET', $H, "/b/$i", timeout => 5);
    $ok++ if $res->{status} == 200;
    $down++ if $i >= 100 && $i < 200 && !status()->{connected};
}

is($ok, 300, 'every request answered');
ok($down > 0, 'Redis was seen down');

ok(wait_for('connected', sub { status()->{connected} }, 15),
   'reconnected after the restart');
ok(wait_for('idle', \&idle, 20), 'everything confirmed');

my $b = uris('b');
is(scalar @$b, 300, '300 records in the stream');
is_deeply($b, [map { "/b/$_" } 1 .. 300], 'each exactly once, in order');

$st = status();
is($st->{stream}{added}, 320, 'added');
is($st->{stream}{confirmed}, 320, 'confirmed');
is($st->{stream}{lost}, 0, 'nothing lost');
ok($st->{disconnects} >= 1, 'the disconnect is counted');
diag("duplicates skipped after the kill: $st->{stream}{duplicates}");

# --- nginx killed with SIGKILL while records wait in its spool

$t->stop_process('redis', 'KILL');
ok(wait_for('down', sub { !status()->{connected} }), 'Redis down again');

$t->http('GET', $H, "/c/$_") for 1 .. 50;
is(status()->{stream}{added}, 370, 'fifty more records taken');

my $old = status();
my $old_file = $old->{stream}{spool_file};
ok(-s $old_file > 0, 'they are in the spool file');

# the master first: killed after its worker, it may still see the
# worker die and start another, which keeps the port (seen under ASan)
kill 'KILL', $t->{pids}{nginx};
waitpid(delete $t->{pids}{nginx}, 0);
kill 'KILL', $old->{pid};
wait_for('worker gone', sub { !kill 0, $old->{pid} });

$t->start_redis(args => \@redis_args);
$t->run_nginx(ports => [$H]);

ok(wait_for('replayed', sub { status()->{stream}{replayed_files} == 1 }, 15),
   'the new worker replayed the dead one\'s file');
ok(wait_for('idle', \&idle), 'and is idle');
is_deeply(uris('c'), [map { "/c/$_" } 1 .. 50],
          'the fifty records, in order, once');
ok(!-e $old_file, 'the replayed file is removed');
isnt(status()->{stream}{spool_file}, $old_file, 'a file of its own');

# --- a spool file whose first records were applied already

my $src = 'test-host:1:1';

for my $i (1 .. 3) {
    rcli('XADD', 't:d', '*', 'record', qq({"uri":"/d/$i"}),
         'rid', "$src:$i");
}

rcli('SET', "t:cms:stream:seq:$src", 3);

my $spool = $t->dir . '/spool';
my $file = "$spool/cms-redis.0000000000001.1.spool";
my $uid = (stat $spool)[4];

open(my $fh, '>', "$file.tmp") or die "$file: $!";
print $fh "CMS-REDIS-SPOOL 1 $src\n";
print $fh qq($_ 0 d {"uri":"/d/$_"}\n) for 1 .. 5;
print $fh "this line is garbage\n";
print $fh qq(6 0 d {"uri":"/d/6"}\n);
print $fh qq(7 0 d {"uri":"/d/7", "torn");
close $fh;
chown $uid, -1, "$file.tmp";
rename "$file.tmp", $file;

my $before = status()->{stream};

ok(wait_for('replayed', sub {
       status()->{stream}{replayed_files} == $before->{replayed_files} + 1
   }, 15), 'the crafted file is claimed and replayed');

is_deeply(uris('d'), [map { "/d/$_" } 1 .. 6],
          'records 1-3 not added twice; 4, 5 and 6 added');

my $after = status()->{stream};
is($after->{duplicates} - $before->{duplicates}, 3, 'three duplicates');
is($after->{corrupt} - $before->{corrupt}, 2,
   'a garbage line and a torn one');
is((rcli('GET', "t:cms:stream:seq:$src"))[0], 6, 'last seq is 6');
ok(!-e $file, 'file removed');

my @rids = grep { /^\Q$src\E:/ } rcli('XRANGE', 't:d', '-', '+');
is_deeply(\@rids, [map { "$src:$_" } 1 .. 6], 'rids 1 to 6');

# --- a spool file with a hole: its writer gave the confirmed part back
# to the file system; the zeros and the end of the line the hole ends in
# are skipped, not counted as corrupt

my $src2 = 'test-host:2:2';
my $file2 = "$spool/cms-redis.0000000000002.1.spool";

open($fh, '>', "$file2.tmp") or die "$file2: $!";
binmode $fh;
print $fh "CMS-REDIS-SPOOL 1 $src2\n";
seek($fh, 3 * 4096, 0) or die "seek: $!";
print $fh qq(/e/0-sent-before"}\n);
print $fh qq($_ 0 e {"uri":"/e/$_"}\n) for 1 .. 3;
close $fh;
chown $uid, -1, "$file2.tmp";
rename "$file2.tmp", $file2;

$before = status()->{stream};

ok(wait_for('replayed', sub {
       status()->{stream}{replayed_files} == $before->{replayed_files} + 1
   }, 15), 'the file with a hole is claimed and replayed');
is_deeply(uris('e'), [map { "/e/$_" } 1 .. 3],
          'the three records after the hole, once');
is(status()->{stream}{corrupt}, $before->{corrupt},
   'the hole and the torn line are not corrupt records');

# --- a backlog bigger than a megabyte: while it drains, the part already
# confirmed is given back to the file system (a hole), so the disk holds
# what waits, even when the file is never all confirmed at once

$t->stop_process('redis', 'KILL');
ok(wait_for('down', sub { !status()->{connected} }), 'Redis down again');

my $long = 'x' x 30000;
my $big_ok = 0;

for my $i (1 .. 60) {
    $big_ok++ if $t->http('GET', $H, "/f/$i/$long")->{status} == 200;
}

is($big_ok, 60, 'sixty requests with 30 kB URIs while Redis is down');
$st = status()->{stream};
ok($st->{spooled_bytes} > 1.5 * 1024 * 1024, 'about 1.8 MB spooled');
is($st->{spool_freed_bytes}, 0, 'nothing freed yet');
is($st->{mode}, 'always', 'mode=always');

$t->start_redis(args => \@redis_args);

ok(wait_for('idle', \&idle, 20), 'the backlog drained');
$st = status()->{stream};
ok($st->{spool_freed_bytes} >= 1024 * 1024,
   "confirmed part freed while draining ($st->{spool_freed_bytes} bytes)");
my $left = do { local (@ARGV, $/) = ($st->{spool_file}); <> };
like($left, qr/\ACMS-REDIS-SPOOL 1 \S+\n\z/, 'then cut back to its header');
is_deeply(uris('f'), [map { "/f/$_/$long" } 1 .. 60],
          'the sixty records, in order, once');

# --- no spool: memory

$t->write_conf(<<'EOF', 'nospool.conf');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis3%% prefix=t: connect_timeout=500ms;

    server {
        listen 127.0.0.1:%%PORT_http3%%;

        location /e/ { cms_redis_stream e; return 200 "e\n"; }
        location = /status { cms_redis_status; }
    }
}
EOF

{
    my $c = $t->read_file('nospool.conf');
    my $d = $t->dir;
    $c =~ s{pid \Q$d\E/nginx\.pid;}{pid $d/nginx3.pid;};
    $t->write_file('nospool.conf', $c);
}

my $H3 = $t->port('http3');

$t->run_nginx(conf => 'nospool.conf', key => 'nginx3',
              pidfile => $t->dir . '/nginx3.pid', ports => [$H3]);

$t->http('GET', $H3, "/e/$_") for 1 .. 10;

$st = status($H3);
is($st->{stream}{spool}, undef, 'no spool');
is($st->{stream}{memory}, 10, 'ten records wait in memory');
is($st->{stream}{spooled_bytes}, 0, 'nothing on disk');

$t->start_redis(key => 'redis3');

ok(wait_for('idle', sub { my $s = status($H3);
                          $s->{connected} && $s->{stream}{idle} }, 15),
   'sent once Redis is there');
is_deeply(uris('e', $t->port('redis3')), [map { "/e/$_" } 1 .. 10],
          'in order, once');

$t->stop_process('redis3', 'KILL');
ok(wait_for('down', sub { !status($H3)->{connected} }), 'Redis gone');

$t->http('GET', $H3, "/e/$_") for 11 .. 15;
is(status($H3)->{stream}{memory}, 5, 'five in memory');

$t->stop_nginx('nginx3');
like($t->error_log,
     qr/\[warn\].* 5 stream records lost at exit \(no usable spool\)/,
     'and reported lost when nginx stops');

$t->done;
