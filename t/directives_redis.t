#!/usr/bin/env perl

# Redis directives and parameters no other test configures, each shown
# doing what the README says:
#
#   cms_redis ... user= password=   an ACL user: the default user is off,
#                                   so only these credentials connect
#   cms_failover_redis on|off       the failover state of an upstream is
#                                   in Redis, or not
#   cms_redis_spool ... max_size=   Redis down: the spool file stops
#                                   growing at max_size, the records wait
#                                   in memory, and none is lost: all reach
#                                   the stream, in order, once Redis is back
#   cms_redis_sentinel ... user= password=
#                                   a Sentinel whose default user is off:
#                                   the master is found with these

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;

$t->start_sim;

# only the user "proxy" may connect
my @acl = ('--user', 'default', 'off',
           '--user', 'proxy', 'on', '>proxy-pw', '~*', '&*', '+@all');
my $R = $t->start_redis(args => \@acl);

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% user=proxy password=proxy-pw prefix=d:
              connect_timeout=500ms command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool mode=always max_size=16k;

    upstream shared {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_failover_redis on;
    }

    upstream alone {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_failover_redis off;
    }

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location /api/v1/ { cms_api on; proxy_pass http://shared; }
        location /alone/ { cms_api on; proxy_pass http://alone; }
        location /s/ { cms_redis_stream s; return 200 "s\n"; }

        location = /status { cms_status; }
        location = /redis { cms_redis_status; }
    }
}
EOF

my $H = $t->port('http');
my $json = JSON::PP->new;

sub get_json {
    my ($path) = @_;
    my $res = $t->http('GET', $H, $path);
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub rcli {
    open(my $fh, '-|', 'redis-cli', '-p', $R, '--user', 'proxy',
         '--pass', 'proxy-pw', '--no-auth-warning', '--raw', @_)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

sub upstream {
    my ($name) = @_;
    my ($u) = grep { $_->{name} eq $name } @{ get_json('/status')->{upstreams} || [] };
    return $u || {};
}

$t->run_nginx(ports => [$H]);

# --- user= password=

ok(wait_for('connected', sub { get_json('/redis')->{connected} }),
   'cms_redis user=proxy password=...: connected as the ACL user');
is((rcli('ACL', 'WHOAMI'))[0], 'proxy', 'the default user being off');
my @clients = grep { /\buser=proxy\b/ } rcli('CLIENT', 'LIST');
ok(@clients >= 2, 'nginx\'s connections are the user proxy\'s ('
   . scalar(@clients) . ' with redis-cli\'s)');

# --- cms_failover_redis on / off

ok(wait_for('shared in Redis', sub { (rcli('HGET', 'd:failover:shared', 'active'))[0] }),
   'cms_failover_redis on: the upstream\'s state is in Redis');
is((rcli('HGET', 'd:failover:shared', 'active'))[0], 'core1',
   'with its active bridge');
is((rcli('EXISTS', 'd:failover:alone'))[0], 0,
   'cms_failover_redis off: nothing of the other upstream\'s');
ok(upstream('shared')->{redis}{enabled}, 'the status says so: shared on');
ok(!upstream('alone')->{redis}{enabled}, 'alone off');

# --- cms_redis_spool max_size=16k, reached while Redis is down

my $file = get_json('/redis')->{stream}{spool_file};
ok(defined $file && -f $file, 'a spool file') or diag($file // 'none');
$file //= $t->dir . '/no-spool-file';

$t->stop_process('redis');
ok(wait_for('down', sub { !get_json('/redis')->{connected} }), 'Redis down');

my $n = 300;
my $ok = 0;
for my $i (1 .. $n) {
    $ok++ if $t->http('GET', $H, "/s/$i")->{status} == 200;
}
is($ok, $n, "$n requests answered");

my $size = -s $file;
ok($size > 8192 && $size <= 16384,
   "the spool file grew to max_size and stopped ($size bytes)");
like($t->error_log, qr/spool file "\Q$file\E" reached max_size: records wait in memory/,
     'and the log says where the rest waits');
my $st = get_json('/redis')->{stream};
ok($st->{memory} > 0, "records in memory ($st->{memory})");

$t->start_redis(args => \@acl);
ok(wait_for('idle', sub { my $s = get_json('/redis');
                          $s->{connected} && $s->{stream}{idle} }, 20),
   'Redis back: everything confirmed');

my @l = rcli('XRANGE', 'd:s', '-', '+');
my @uris;
while (@l >= 5) {
    my (undef, undef, $rec) = splice(@l, 0, 5);
    push @uris, $json->decode($rec)->{uri};
}
is_deeply(\@uris, [map { "/s/$_" } 1 .. $n],
          'every record in the stream, in order, once');
is(get_json('/redis')->{stream}{lost}, 0, 'none lost');

# --- cms_redis_sentinel user= password=: only "watcher" may ask this
# Sentinel; it reaches the master as "proxy"

my $SP = $t->port('sentinel');
my $dir = $t->dir;
$t->write_file('sentinel.conf', <<"EOF");
port $SP
bind 127.0.0.1
dir $dir
logfile $dir/sentinel.log
user default off
user watcher on >watcher-pw ~* &* +\@all
sentinel monitor m 127.0.0.1 $R 1
sentinel auth-user m proxy
sentinel auth-pass m proxy-pw
EOF

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    exec('redis-sentinel', "$dir/sentinel.conf") or die "exec: $!";
}
$t->{pids}{sentinel} = $pid;
$t->wait_port($SP);

$t->write_conf(<<'EOF', 'sentinel-nginx.conf');
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 1;
pid %%TESTDIR%%/sentinel-nginx.pid;
error_log %%TESTDIR%%/error.log info;
events {}
http {
    access_log off;

    cms_redis_sentinel 127.0.0.1:%%PORT_sentinel%% master=m user=watcher
                       password=watcher-pw;
    cms_redis sentinel user=proxy password=proxy-pw prefix=d2:
              connect_timeout=500ms command_timeout=1s ping_interval=1s;

    server {
        listen 127.0.0.1:%%PORT_http2%%;
        location /v/ { cms_redis_stream v; return 200 "v\n"; }
        location = /redis { cms_redis_status; }
    }
}
EOF

$t->run_nginx(conf => 'sentinel-nginx.conf', key => 'nginx2',
              pidfile => $t->dir . '/sentinel-nginx.pid',
              ports => [$t->port('http2')]);

sub status2 {
    my $res = $t->http('GET', $t->port('http2'), '/redis');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

ok(wait_for('connected through the sentinel', sub { status2()->{connected} }, 20),
   'cms_redis_sentinel user=watcher password=...: the master found, connected')
    or diag(explain(status2()));
$t->http('GET', $t->port('http2'), '/v/1');
ok(wait_for('the record', sub { (rcli('XLEN', 'd2:v'))[0] == 1 }),
   'a record reached the master');

$t->done;
