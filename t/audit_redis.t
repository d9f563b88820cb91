#!/usr/bin/env perl

# The audit stream: with "cms_audit_stream" every record the audit file
# gets also goes to a Redis stream, through the Redis client's reliable
# stream (spool, in-order replay, no duplicates).
#
#   - normal operation: the stream holds exactly the file's records, the
#     same bytes, in the same order, each with its rid;
#   - maxlen caps the stream; "off" keeps a server's records out of it;
#     the directive without cms_redis is refused by nginx -t;
#   - 300 audited PUTs while redis-server is killed with SIGKILL and
#     restarted (AOF, appendfsync always, so what Redis acknowledged
#     survives): every request answered at once, every record exactly
#     once, in order, in the stream and in the file.

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
my $json = JSON::PP->new->utf8;

plan skip_all => 'no redis-server' unless `redis-server --version 2>&1`
                                          =~ /v=/;

# workers run as nobody: the spool directory is theirs, the files too
chmod 0755, $t->dir or die "chmod: $!";

my $proxy = <<'EOF';
        location /api/v1/ {
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }
EOF

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=500ms
              command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool;

    # the http level: the default below, and events
    cms_audit_log %%TESTDIR%%/audit.log;
    cms_audit_stream audit maxlen=0;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
%%PROXY%%
        location = /redis { cms_redis_status; }
    }

    server {
        listen 127.0.0.1:%%PORT_capped%%;
        cms_audit_log %%TESTDIR%%/capped.log scope=all;
        cms_audit_stream capped maxlen=10;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_nostream%%;
        cms_audit_stream off;
%%PROXY%%
    }
}
EOF

$conf =~ s/%%PROXY%%\n/$proxy/g;

my $P = $t->port('proxy');
our $R = $t->port('redis');

# small stream nodes, so that MAXLEN ~ 10 trims at about 10
my @redis_args = ('--appendonly', 'yes', '--appendfsync', 'always',
                  '--stream-node-max-entries', '10');

# --- the directive needs cms_redis

{
    (my $bad = $conf) =~ s/^\s*cms_redis(_spool)? .*?;\n//msg;
    $bad =~ s/^.*cms_redis_status.*\n//m;
    $t->write_conf($bad, 'bad.conf');
    my ($ok, $out) = $t->nginx_t('bad.conf');
    ok(!$ok, 'cms_audit_stream without cms_redis: nginx -t fails');
    like($out, qr/"cms_audit_stream" in \S+:\d+ needs "cms_redis"/,
         'and says why');

    (my $key = $conf) =~ s/cms_audit_stream capped maxlen=10;/cms_audit_stream "a b";/;
    $t->write_conf($key, 'bad.conf');
    ($ok, $out) = $t->nginx_t('bad.conf');
    like($out, qr/invalid stream key "a b"/, 'a key with a space is refused');
}

$t->start_sim;
$t->start_redis(args => \@redis_args);
$t->write_conf($conf);
$t->run_nginx(ports => [map { $t->port($_) } qw(proxy capped nostream)]);

sub status {
    my $res = $t->http('GET', $P, '/redis');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub idle { my $s = status(); $s->{connected} && $s->{stream}{idle} }

sub rcli {
    my (@args) = @_;
    open(my $fh, '-|', 'redis-cli', '-p', $R, '--raw', @args)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

# [ record text, rid ] of every entry: XRANGE --raw gives id, "record",
# the text, "rid", the rid (records are one line: no raw newlines)
sub stream {
    my ($key) = @_;
    my @l = rcli('XRANGE', "t:$key", '-', '+');
    my @e;
    while (@l >= 5) {
        my (undef, $f1, $rec, $f2, $rid) = splice(@l, 0, 5);
        push @e, $f1 eq 'record' && $f2 eq 'rid' ? [ $rec, $rid ]
                                                  : [ "bad: $f1 $f2", '' ];
    }
    return @e;
}

sub lines {
    my ($file) = @_;
    my @l = $t->read_file($file) =~ /^(.+)\n/mg;
    return @l;
}

sub wait_lines {
    my ($file, $n) = @_;
    for (1 .. 400) {
        last if lines($file) >= $n;
        sleep 0.025;
    }
    return lines($file);
}

sub api {
    my ($port, $method, $path, $body) = @_;
    return $t->http($method, $port, $path, body => $body, timeout => 10,
                    user => 'admin', password => 'secret1');
}

ok(wait_for('connected', sub { status()->{connected} }), 'Redis connected');

# --- normal operation: the stream is the file

my $loc = api($P, 'POST', '/api/v1/coSpaces', 'name=Burst&uri=burst')
          ->{headers}{location} // '';
my ($space) = $loc =~ m{/([^/]+)$};
ok($space, 'a coSpace to change');

for my $i (1 .. 5) {
    api($P, 'PUT', "/api/v1/coSpaces/$space", "name=Normal+$i&passcode=1$i");
}
api($P, 'GET', "/api/v1/coSpaces/$space");     # scope=writes: not audited

my @file = wait_lines('audit.log', 6);
is(scalar @file, 6, 'six records in the file');
ok(wait_for('stream idle', \&idle), 'the stream has sent them');

my @s = stream('audit');
is_deeply([map { $_->[0] } @s], \@file,
          'the stream holds the file\'s records: same bytes, same order');
like($s[0][1] // '', qr/^[^:\s]+:\d+:\d+:1$/, 'rid: <host>:<pid>:<ms>:1');
is_deeply([map { ($_->[1] =~ /:(\d+)$/)[0] } @s], [1 .. 6],
          'sequence numbers 1 to 6');
unlike(join('', map { $_->[0] } @s), qr/"passcode":"1\d"/,
       'secrets are masked in the stream as in the file');

# --- maxlen, off

api($t->port('capped'), 'GET', '/api/v1/coSpaces') for 1 .. 50;
wait_lines('capped.log', 50);
ok(wait_for('stream idle', \&idle), 'sent');

my $xlen = (rcli('XLEN', 't:capped'))[0];
ok($xlen >= 10 && $xlen < 30, "maxlen=10 caps the stream ($xlen of 50)");
my @capped = lines('capped.log');
is((stream('capped'))[-1][0], $capped[-1], 'the newest record is there');

my $before = () = stream('audit');
api($t->port('nostream'), 'PUT', "/api/v1/coSpaces/$space", 'name=Quiet');
my @after = wait_lines('audit.log', 7);
ok((grep { /"name":"Quiet"/ } @after), 'off: the file has the record');
ok(wait_for('stream idle', \&idle), 'idle');
is(scalar(() = stream('audit')), $before, 'off: the stream does not');

# --- kill -9 and restart redis-server during 300 audited PUTs

my ($answered, $slow, $down, $spooled) = (0, 0, 0, 0);

for my $i (1 .. 300) {
    $t->stop_process('redis', 'KILL') if $i == 100;
    $spooled = status()->{stream}{spooled_bytes} if $i == 200;
    $t->start_redis(args => \@redis_args) if $i == 200;

    my $t0 = time;
    my $res = api($P, 'PUT', "/api/v1/coSpaces/$space", "name=Burst+$i");
    $answered++ if $res->{status} == 200;
    $slow++ if time - $t0 > 2;
    $down++ if $i > 100 && $i < 200 && $i % 10 == 0
               && !status()->{connected};
}

is($answered, 300, 'every PUT answered 200');
is($slow, 0, 'none waited for Redis (none took over 2 s)');
ok($down > 0, 'Redis was seen down');
ok($spooled > 0, "meanwhile the records waited in the spool ($spooled bytes)");

my @all = wait_lines('audit.log', 307);
is(scalar @all, 307, 'the file: every record');

ok(wait_for('connected', sub { status()->{connected} }, 15),
   'reconnected after the restart');
ok(wait_for('stream idle', \&idle, 30), 'everything confirmed');

# the file has one record more: the one of the server with the stream off
my @streamed = grep { !/"name":"Quiet"/ } @all;
is(scalar @streamed, 306, 'of which 306 for the stream');

my @ids = map { $json->decode($_)->{request_id} } @streamed;
my @sids = map { $json->decode($_->[0])->{request_id} } stream('audit');
my %seen;
my @dup = grep { $seen{$_}++ } @sids;

is(scalar @sids, scalar @ids, 'as many records in the stream as in the file');
is(scalar @dup, 0, 'none twice');
is_deeply(\@sids, \@ids, 'the same records, in the same order');

my @burst = grep { /"name":"Burst \d+"/ } map { $_->[0] } stream('audit');
is_deeply([map { /"name":"Burst (\d+)"/ } @burst], [1 .. 300],
          'the burst: 1 to 300, once each, in order');
is_deeply([map { $_->[0] } stream('audit')], \@streamed,
          'byte for byte what the file has');

my $st = status();
is($st->{stream}{lost}, 0, 'nothing lost');
ok($st->{disconnects} >= 1, 'the disconnect is counted');
diag("duplicates skipped after the kill: $st->{stream}{duplicates}");

unlike($t->error_log, qr/\[crit\].*audit/, 'no audit write failed');

$t->done;
