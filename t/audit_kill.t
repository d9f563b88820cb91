#!/usr/bin/env perl

# kill -9 of a worker under load, with the audit file written through the
# shared ring (ring=, flush=1h) and the stream spooled (cms_redis_spool mode=always):
# four clients send audited PUTs to two workers, one worker is killed with
# SIGKILL in the middle; then every request a client was answered (it has
# the answer's X-Request-Id) has exactly one record in the file and exactly
# one in the stream, and no record is there twice.  Requests cut by the
# kill were not answered: whether they have a record is not asserted, only
# that none has two.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

plan skip_all => 'no redis-server' unless `redis-server --version 2>&1`
                                          =~ /v=/;

# workers run as nobody: the spool directory and the files are theirs
chmod 0755, $t->dir or die "chmod: $!";

$t->start_sim;
$t->start_redis(args => ['--appendonly', 'yes', '--appendfsync', 'always']);

$t->write_conf(<<'EOF');
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 2;
pid %%TESTDIR%%/nginx.pid;
error_log %%TESTDIR%%/error.log info;
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=500ms
              command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool mode=always;

    # flush=1h: records stay in the ring until something writes it, so
    # the kill finds the most there
    cms_audit_log %%TESTDIR%%/audit.log ring=1m flush=1h;
    cms_audit_stream audit maxlen=0;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        add_header X-Request-Id $cms_request_id always;

        location /api/v1/ {
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location = /redis { cms_redis_status; }
    }
}
EOF

my $P = $t->port('proxy');
$t->run_nginx(ports => [$P]);

sub status {
    my $res = $t->http('GET', $P, '/redis');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub lines {
    my @l = $t->read_file('audit.log') =~ /^(.+)\n/mg;
    return @l;
}

sub stream_ids {
    open(my $fh, '-|', 'redis-cli', '-p', $t->port('redis'), '--raw',
         'XRANGE', 't:audit', '-', '+') or die "redis-cli: $!";
    my @l = <$fh>;
    close $fh;
    chomp @l;
    my @ids;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @ids, eval { $json->decode($rec)->{request_id} } // 'bad';
    }
    return @ids;
}

ok(wait_for('Redis connected', sub { status()->{connected} }),
   'Redis connected');

my $loc = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=Kill')
          ->{headers}{location} // '';
my ($space) = $loc =~ m{/([^/]+)$};
ok($space, 'a coSpace to change');

my @before = sort { $a <=> $b } $t->workers;
is(scalar @before, 2, 'two workers');

# each client: its answered ids, one a line, in a file of its own
my $clients = 4;
my $per = 150;
my @kids;

for my $c (1 .. $clients) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open my $out, '>', $t->dir . "/answered-$c" or POSIX::_exit(2);
        $out->autoflush(1);
        for my $i (1 .. $per) {
            my $res = $t->http('PUT', $P, "/api/v1/coSpaces/$space",
                               body => "name=Kill+$c+$i", timeout => 5);
            my $rid = $res->{headers}{'x-request-id'};
            print $out "$rid\n" if $res->{status} == 200 && $rid;
        }
        close $out;
        POSIX::_exit(0);    # not the harness's destructor
    }
    push @kids, $pid;
}

# the kill, once a third of the requests were answered
wait_for('a third answered', sub {
    my $n = 0;
    for my $c (1 .. $clients) {
        $n += () = $t->read_file("answered-$c") =~ /\n/g
            if -f $t->dir . "/answered-$c";
    }
    return $n >= $clients * $per / 3;
}, 60);

$t->allow_log(qr/ worker process $before[0] exited on signal 9$/);
kill 'KILL', $before[0];

waitpid($_, 0) for @kids;

my %answered;
for my $c (1 .. $clients) {
    $answered{$_}++ for $t->read_file("answered-$c") =~ /^(.+)$/mg;
}
my $n = keys %answered;

ok($n > $clients * $per * 0.8,
   "most requests were answered ($n of " . $clients * $per . ')');
is(scalar(grep { $_ > 1 } values %answered), 0,
   'no two answers carried the same request id');

my @after = $t->workers;
ok(@after == 2 && !grep({ $_ == $before[0] } @after),
   'the killed worker was replaced');
like($t->read_file('error.log'),
     qr/worker process $before[0] exited on signal 9/,
     'the worker was indeed killed with SIGKILL');

# the stream: the same, once the spool has been sent
ok(wait_for('stream idle', sub {
    my $s = status();
    return $s->{connected} && $s->{stream}{idle};
}, 30), 'the stream sent everything the spools held');

wait_for('records in the stream', sub {
    my %s = map { $_ => 1 } stream_ids();
    return !grep { !$s{$_} } keys %answered;
}, 20);

my %stream;
$stream{$_}++ for stream_ids();

is(scalar(grep { !$stream{$_} } keys %answered), 0,
   "the stream: a record for each of the $n answered requests");
is(scalar(grep { $stream{$_} != 1 } keys %stream), 0,
   'the stream: no record twice');

# the file, once nginx stopped (with flush=1h the ring is written at the
# kill's respawn, when full, and when the workers exit): every answered
# request once
$t->stop_nginx;

my %file;
$file{$json->decode($_)->{request_id}}++ for lines();

is(scalar(grep { !$file{$_} } keys %answered), 0,
   "the file: a record for each of the $n answered requests");
is(scalar(grep { $file{$_} != 1 } keys %file), 0,
   'the file: no record twice');
ok(keys(%file) >= $n, 'the file: ' . keys(%file) . ' records in all');

$t->done;
