#!/usr/bin/env perl

# cms_redis_stream_replicas: a batch of stream records counts as
# delivered only once WAIT says a replica has it.  With the replica
# stopped, records reach the master but stay in the spool, unconfirmed,
# and are sent again (the master keeps one copy of each: the seq check
# skips them); the master then lost with them (a new, empty master on its
# port, as a replica promoted without them would be) gets them once; the
# replica back, they are confirmed, each once on the master and on the
# replica; a replica stopped (SIGSTOP) while connected does not confirm
# a batch sent again on a new connection.  An instance without the
# option, on the same Redis, confirms its records with the replica gone
# (the default, unchanged: the limit the option removes).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
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

sub start_replica {
    $t->start_redis(key => 'replica',
                    args => ['--replicaof', '127.0.0.1', $M]);
    ok(wait_for('replication', sub {
           grep { /^master_link_status:up/ }
                rcli($t->port('replica'), 'INFO', 'replication') }, 20),
       'the replica is in sync');
}

start_replica();

my $S = $t->port('replica');

for my $n (qw(a b)) {
    my $conf = <<"EOF";
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=500ms
              command_timeout=500ms ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool-$n;
    cms_redis_stream_replicas 1 timeout=200ms;

    server {
        listen 127.0.0.1:%%PORT_http_$n%%;

        location /$n/ { cms_redis_stream $n; return 200 "$n\\n"; }
        location = /status { cms_redis_status; }
    }
}
EOF
    # b: the default, no WAIT
    $conf =~ s/^ *cms_redis_stream_replicas .*\n//m if $n eq 'b';
    $t->write_conf($conf, "nginx-$n.conf");
    $conf = $t->read_file("nginx-$n.conf");
    $conf =~ s{pid \S+;}{pid %%TESTDIR%%/nginx-$n.pid;};
    $conf =~ s{error_log \S+ debug;}{error_log %%TESTDIR%%/error-$n.log info;};
    $t->write_conf($conf, "nginx-$n.conf");
}

$t->run_nginx(conf => "nginx-$_.conf", key => "nginx_$_",
              pidfile => $t->dir . "/nginx-$_.pid",
              ports => [$t->port("http_$_")]) for qw(a b);

my %H = (a => $t->port('http_a'), b => $t->port('http_b'));

sub status {
    my ($n) = @_;
    my $res = $t->http('GET', $H{$n}, '/status');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub stream { status($_[0])->{stream} // {} }

sub idle { my $s = status($_[0]); $s->{connected} && $s->{stream}{idle} }

# the request URIs in a stream, in order
sub uris {
    my ($port, $key) = @_;
    my @l = rcli($port, 'XRANGE', "t:$key", '-', '+');
    my @u;
    while (@l >= 5) {
        my (undef, undef, $rec) = splice(@l, 0, 5);
        push @u, $json->decode($rec)->{uri};
    }
    return join ' ', @u;
}

sub log_of { $t->read_file("error-$_[0].log") }

ok(wait_for('connected', sub {
       status('a')->{connected}
       && (status('a')->{stream_connection}{state} // '') eq 'connected'
       && status('b')->{connected} }), 'both connected');
is(status('a')->{stream_connection}{address}, "127.0.0.1:$M",
   'A: the stream has a connection of its own, to the master');
is(status('b')->{stream_connection}, undef, 'B: none (the default)');
is(stream('a')->{replicas}, 1, 'A: WAIT for one replica');

# --- the replica there: delivered and confirmed as usual

$t->http('GET', $H{a}, "/a/$_") for 1 .. 20;
ok(wait_for('A idle', sub { idle('a') }), 'A: twenty records confirmed');
is(stream('a')->{confirmed}, 20, 'confirmed: 20');
is(stream('a')->{unreplicated}, 0, 'none held back');
is(uris($S, 'a'), join(' ', map { "/a/$_" } 1 .. 20),
   'the replica has them, in order');

# --- the replica gone: on the master, not confirmed, kept and sent again

$t->stop_process('replica');
ok(wait_for('the master alone', sub {
       grep { /^connected_slaves:0/ } rcli($M, 'INFO', 'replication') }),
   'the replica is stopped');

$t->http('GET', $H{a}, "/a/x$_") for 1 .. 10;
$t->http('GET', $H{b}, "/b/$_") for 1 .. 5;

my $want_x = join ' ', map { "/a/x$_" } 1 .. 10;

ok(wait_for('B idle', sub { idle('b') }),
   'B (no WAIT): its records confirmed without a replica');
is(stream('b')->{confirmed}, 5, 'B: confirmed 5');

ok(wait_for('the master has them', sub {
       uris($M, 'a') eq join(' ', (map { "/a/$_" } 1 .. 20), $want_x) }),
   'A: the ten new records reached the master');
ok(wait_for('sent again twice', sub { stream('a')->{unreplicated} >= 3 }),
   'A: the batch was held back, and held back again on every retry');

my $st = stream('a');
is($st->{confirmed}, 20, 'A: not one of the ten confirmed');
ok(!$st->{idle}, 'A: not idle: they wait in the spool (or memory)');
cmp_ok($st->{duplicates}, '==', 0, 'nothing confirmed, nothing counted yet');
like($st->{last_error}, qr/not confirmed by 1 replicas within 200 ms/,
     'the status says why');
is(uris($M, 'a'), join(' ', (map { "/a/$_" } 1 .. 20), $want_x),
   'the retries added nothing twice on the master');
is(scalar(() = log_of('a') =~ /not confirmed by 1 replicas/g), 1,
   'one warning for the outage, not one per retry');

# --- the master lost with them: a new, empty one on its port (as a
# replica promoted without those writes)

$t->stop_process('redis', 'KILL');
$t->start_redis(key => 'redis');
ok(wait_for('A on the new master', sub {
       uris($M, 'a') eq $want_x }, 15),
   'the new master got the ten unconfirmed records, once each')
    or diag('master: ' . uris($M, 'a'));
is(stream('a')->{confirmed}, 20, 'still not confirmed (no replica)');

# the WAIT behind the batch that added them ends short before the
# replica returns (else it could confirm that very batch)
my $u = stream('a')->{unreplicated};
ok(wait_for('one more held back', sub {
       stream('a')->{unreplicated} > $u }), 'and held back again');

# --- the replica back: confirmed, each once, everywhere

start_replica();
ok(wait_for('A idle', sub { idle('a') }, 15), 'A: idle again');
$st = stream('a');
is($st->{confirmed}, 30, 'A: all thirty confirmed');
cmp_ok($st->{duplicates}, '>=', 10,
       'the last send skipped the ten the master already had')
    or diag($json->encode($st));
is(uris($M, 'a'), $want_x, 'the master: each of the ten once');
is(uris($S, 'a'), $want_x, 'the replica: the same');
like(log_of('a'), qr/batches confirmed by 1 replicas again/,
     'the end of the outage is logged');

# --- a replica connected but silent (SIGSTOP): a new connection whose
# first batch only skips records the master has must not be confirmed by
# WAIT either (the script writes the seq key even then; Redis 7.0.15
# also has the connection wait for the master's offset after a read)

my $u2 = stream('a')->{unreplicated};
kill 'STOP', $t->{pids}{replica};
$t->http('GET', $H{a}, "/a/y$_") for 1 .. 5;
my $want_y = join ' ', $want_x, map { "/a/y$_" } 1 .. 5;
ok(wait_for('on the master', sub { uris($M, 'a') eq $want_y }),
   'five more records on the master, the replica stopped (SIGSTOP)');
ok(wait_for('held back', sub { stream('a')->{unreplicated} > $u2 }),
   'not confirmed: the replica does not acknowledge');

my $connects = status('a')->{stream_connection}{connects};
$u2 = stream('a')->{unreplicated};
rcli($M, 'CLIENT', 'KILL', 'TYPE', 'normal');
ok(wait_for('a new connection, a batch sent on it', sub {
       status('a')->{stream_connection}{connects} > $connects
       && stream('a')->{unreplicated} > $u2 }),
   'a new stream connection sent the batch again');
is(stream('a')->{confirmed}, 30, 'and WAIT did not confirm it');

kill 'CONT', $t->{pids}{replica};
ok(wait_for('A idle', sub { idle('a') }, 15), 'the replica answers again: '
   . 'confirmed');
is(stream('a')->{confirmed}, 35, 'all 35');
is(uris($M, 'a'), $want_y, 'each once on the master');

# --- configuration checks

sub conf_error {
    my ($http) = @_;
    $t->write_conf(<<"EOF", 'bad.conf');
%%GLOBALS%%
events {}
http {
    $http
    server { listen 127.0.0.1:%%PORT_bad%%; }
}
EOF
    my ($ok, $out) = $t->nginx_t('bad.conf');
    return $ok ? '' : $out;
}

my $R = 'cms_redis 127.0.0.1:6379;';

like(conf_error('cms_redis_stream_replicas 1;'),
     qr/"cms_redis_stream_replicas" in .* needs "cms_redis"/,
     'replicas without Redis');
like(conf_error("$R cms_redis_stream_replicas 0;"),
     qr/invalid number of replicas "0"/, '0 replicas refused (use off)');
like(conf_error("$R cms_redis_stream_replicas 17;"),
     qr/invalid number of replicas "17"/, 'more than 16 refused');
like(conf_error("$R cms_redis_stream_replicas 1 timeout=0;"),
     qr/the timeout must be more than 0/, 'timeout=0 (WAIT for ever) refused');
like(conf_error("$R cms_redis_stream_replicas 1 timeout=x;"),
     qr/invalid time in "timeout=x"/, 'a bad timeout');
like(conf_error("$R cms_redis_stream_replicas 1 wait=1s;"),
     qr/invalid parameter "wait=1s"/, 'an unknown parameter');
like(conf_error("$R cms_redis_stream_replicas off timeout=1s;"),
     qr/takes no parameters after "off"/, 'off takes nothing');
like(conf_error("$R cms_redis_stream_replicas 1; cms_redis_stream_replicas 2;"),
     qr/is duplicate/, 'duplicate');
is(conf_error("$R cms_redis_stream_replicas 2 timeout=50ms;"), '',
   'a valid one passes');
is(conf_error("$R cms_redis_stream_replicas off;"), '', 'and off');

$t->done;
