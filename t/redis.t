#!/usr/bin/env perl

# The Redis client in normal operation: the stream (one record per
# request, in order, exactly once), the status, the C API through the
# test window (commands, a script and its EVAL fallback, pub/sub and
# re-subscription, orphaned commands), a unix socket, a wrong password
# (status shows it, proxying goes on, records wait in the spool and land
# once the password is right), and the configuration checks.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;

$t->start_redis(args => ['--enable-debug-command', 'local']);
$t->start_redis(key => 'redis2', args => [
    '--requirepass', 'secret',
    '--unixsocket', $t->dir . '/redis2.sock', '--unixsocketperm', '777',
]);

$t->write_conf(<<'EOF');
%%GLOBALS%%
%%REDIS_DEBUG%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=t: connect_timeout=2s
              command_timeout=1s ping_interval=1s;
    cms_redis_spool %%TESTDIR%%/spool;
    cms_redis_debug_subscribe news;
    cms_redis_debug_script
        "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}";

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location / {
            cms_redis_stream audit maxlen=1000;
            return 200 "ok\n";
        }

        location /off/ {
            cms_redis_stream off;
            return 200 "off\n";
        }

        location = /status {
            cms_redis_stream off;
            cms_redis_status;
        }

        location /redis/ {
            cms_redis_stream off;
            cms_redis_debug;
        }
    }
}
EOF

$t->write_conf(<<'EOF', 'nginx2.conf');
%%GLOBALS%%
%%REDIS_DEBUG%%
events {}
http {
    access_log off;

    cms_redis unix:%%TESTDIR%%/redis2.sock password=wrong db=3
              connect_timeout=500ms;
    cms_redis_spool %%TESTDIR%%/spool2;

    server {
        listen 127.0.0.1:%%PORT_http2%%;

        location / {
            cms_redis_stream audit2;
            proxy_pass http://127.0.0.1:%%PORT_backend%%;
        }

        location = /status {
            cms_redis_stream off;
            cms_redis_status;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_backend%%;

        location / {
            return 200 "backend $uri\n";
        }
    }
}
EOF

# nginx2 shares the error log; its own pid file
{
    my $c = $t->read_file('nginx2.conf');
    my $d = $t->dir;
    $c =~ s{pid \Q$d\E/nginx\.pid;}{pid $d/nginx2.pid;};
    $t->write_file('nginx2.conf', $c);
}

$t->run_nginx(ports => [$t->port('http')]);

my $H = $t->port('http');
my $R = $t->port('redis');
my $json = JSON::PP->new;

sub status {
    my ($port) = @_;
    my $res = $t->http('GET', $port // $H, '/status');
    return $res->{status} == 200 ? $json->decode($res->{content}) : {};
}

sub rcli {
    my ($port, @args) = @_;
    open(my $fh, '-|', 'redis-cli', '-p', $port, '--raw', @args)
        or die "redis-cli: $!";
    my @out = <$fh>;
    close $fh;
    chomp @out;
    return @out;
}

sub records {
    my ($port, $key, @auth) = @_;
    my @l = rcli($port, @auth, 'XRANGE', $key, '-', '+');
    my @r;
    while (@l >= 5) {
        my ($id, $f1, $v1, $f2, $v2) = splice(@l, 0, 5);
        push @r, { id => $id, $f1 => $v1, $f2 => $v2 };
    }
    return @r;
}

sub get { $t->http('GET', $H, $_[0]) }

# --- normal operation

ok(wait_for('connected', sub { status()->{connected} }),
   'status: connected');

my $st = status();
is($st->{state}, 'connected', 'command connection connected');
is($st->{pubsub}{state}, 'connected', 'pub/sub connection connected');
is($st->{address}, "127.0.0.1:$R", 'status names the address');
is($st->{last_error}, undef, 'no error so far');
is($st->{available}, JSON::PP::true, 'available');

is(get("/r/$_")->{status}, 200, "request $_") for 1 .. 5;
is(get('/off/x')->{status}, 200, 'request without a record');

ok(wait_for('confirmed', sub { status()->{stream}{confirmed} == 5 }),
   'five records confirmed');

my @recs = records($R, 't:audit');
is(scalar @recs, 5, 'five records in t:audit, none from /off/');
is_deeply([map { $json->decode($_->{record})->{uri} } @recs],
          [map { "/r/$_" } 1 .. 5], 'in request order');

my $rec = $json->decode($recs[0]{record});
is($rec->{method}, 'GET', 'record: method');
is($rec->{status}, 200, 'record: status');
like($rec->{id}, qr/^[0-9a-f]{32}$/, 'record: the request id');
like($rec->{ts}, qr/^\d{13}$/, 'record: ts in ms');

my ($source) = $recs[0]{rid} =~ /^(.*):1$/;
ok($source, 'rid is <source>:1 for the first record');
is_deeply([map { $_->{rid} } @recs], [map { "$source:$_" } 1 .. 5],
          'rid counts 1..5 within one source');
is((rcli($R, 'GET', "t:cms:stream:seq:$source"))[0], 5,
   'the per-source sequence key holds the last seq');

$st = status();
is($st->{stream}{duplicates}, 0, 'no duplicates');
is($st->{stream}{spooled_bytes}, 0, 'spool drained');
is($st->{stream}{idle}, JSON::PP::true, 'stream idle');
like($st->{stream}{spool_file}, qr{/spool/cms-redis\.\d{13}\.\d+\.spool$},
     'per-worker spool file');
is(-s $st->{stream}{spool_file}, length("CMS-REDIS-SPOOL 1 $source\n"),
   'confirmed records are cut from the spool file');

# --- the C API, through the test window

is(get('/redis/cmd?a=SET&a=k1&a=a%2Bb+c')->{content}, "OK\n", 'SET');
is(get('/redis/cmd?a=GET&a=k1')->{content}, "a+b c\n", 'GET');
is(get('/redis/cmd?a=GET&a=nosuchkey')->{content}, "(nil)\n", 'nil');
is(get('/redis/cmd?a=INCRBY&a=n&a=7')->{content}, "(integer) 7\n",
   'integer');
is(get('/redis/cmd?a=NOSUCHCOMMAND')->{content} =~ /^\(error\) ERR unknown/
   ? 1 : 0, 1, 'a Redis error is a reply');
is(get('/redis/cmd?a=SUBSCRIBE&a=x')->{status}, 500,
   'SUBSCRIBE refused on the command connection');

is(get('/redis/script?k=t:counter&a=hello')->{content},
   "1) t:counter\n2) hello\n3) (integer) 1\n", 'script via EVALSHA');
is(get('/redis/cmd?a=SCRIPT&a=FLUSH')->{content}, "OK\n", 'SCRIPT FLUSH');
is(get('/redis/script?k=t:counter&a=again')->{content},
   "1) t:counter\n2) again\n3) (integer) 2\n",
   'after SCRIPT FLUSH: NOSCRIPT, then EVAL');
is(get('/redis/script?k=t:counter&a=third')->{content},
   "1) t:counter\n2) third\n3) (integer) 3\n", 'and again');

# stream records still land: the stream script is also re-sent as EVAL

get('/r/after-flush');
ok(wait_for('confirmed', sub { status()->{stream}{confirmed} == 6 }),
   'stream after SCRIPT FLUSH');

# pub/sub, with the prefix, and again after the connection is killed

is(get('/redis/publish?c=news&m=hello')->{content}, "(integer) 1\n",
   'PUBLISH reaches one subscriber (this worker)');
ok(wait_for('message', sub { get('/redis/messages')->{content} =~ /hello/ }),
   'message received');
is(get('/redis/messages')->{content}, "news hello\n",
   'channel without the prefix');
is((rcli($R, 'PUBLISH', 't:news', 'direct'))[0], 1,
   'the subscription is on t:news');

rcli($R, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
ok(wait_for('re-subscribed', sub {
       my $s = status();
       $s->{pubsub}{connects} == 2 && $s->{pubsub}{state} eq 'connected'
           && (rcli($R, 'PUBSUB', 'NUMSUB', 't:news'))[1] == 1
   }), 'pub/sub reconnected and re-subscribed');
get('/redis/publish?c=news&m=again');
ok(wait_for('message', sub { get('/redis/messages')->{content} =~ /again/ }),
   'message after re-subscription');
is(get('/redis/messages')->{content}, "news hello\nnews direct\nnews again\n",
   'all three messages, in order');

# orphaned commands: the requester is gone before the answer

my $orphaned = status()->{orphaned};
is(get('/redis/cmd?a=PING&detach=1')->{content}, "(sent)\n",
   'detached command');
ok(wait_for('orphaned', sub { status()->{orphaned} == $orphaned + 1 }),
   'its answer found no requester, and touched nothing');

my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$H") or die;
print $s "GET /redis/cmd?a=DEBUG&a=SLEEP&a=0.5 HTTP/1.1\r\nHost: x\r\n\r\n";
sleep 0.2;
close $s;
is(status()->{orphaned}, $orphaned + 1, 'Redis is still asleep');
ok(wait_for('orphaned', sub { status()->{orphaned} == $orphaned + 2 }),
   'client gone while waiting: command orphaned');
is(get('/redis/cmd?a=PING')->{content}, "PONG\n", 'still fine');

my $pid = status()->{pid};

# --- a unix socket and a wrong password: proxying goes on

$t->run_nginx(conf => 'nginx2.conf', key => 'nginx2',
              pidfile => $t->dir . '/nginx2.pid',
              ports => [$t->port('http2')]);

my $H2 = $t->port('http2');
my $R2 = $t->port('redis2');

ok(wait_for('auth error', sub {
       (status($H2)->{last_error} // '') =~ /WRONGPASS/ }),
   'status shows the AUTH error');

$st = status($H2);
is($st->{connected}, JSON::PP::false, 'not connected');
like($st->{address}, qr{^unix:.*/redis2\.sock$}, 'unix socket address');
like($st->{last_error}, qr/^AUTH: WRONGPASS/, 'the error says AUTH');

for my $i (1 .. 10) {
    my $res = $t->http('GET', $H2, "/p/$i");
    is($res->{content}, "backend /p/$i\n", "proxied without Redis ($i)")
        if $i == 1 || $i == 10;
}

ok(wait_for('spooled', sub { status($H2)->{stream}{added} == 10 }),
   'ten records taken');
$st = status($H2);
ok($st->{stream}{spooled_bytes} > 0, 'waiting in the spool');
is($st->{stream}{confirmed}, 0, 'none confirmed');

rcli($R2, '-a', 'secret', '--no-auth-warning',
     'CONFIG', 'SET', 'requirepass', 'wrong');

ok(wait_for('connected', sub { status($H2)->{connected} }, 15),
   'connects once the password is right');
ok(wait_for('replayed', sub { status($H2)->{stream}{confirmed} == 10 }),
   'spool replayed');

@recs = records($R2, 'audit2', '-a', 'wrong', '--no-auth-warning', '-n', 3);
is_deeply([map { $json->decode($_->{record})->{uri} } @recs],
          [map { "/p/$_" } 1 .. 10], 'in db 3, in order, once');

$t->stop_nginx('nginx2');

# --- configuration checks

sub conf_error {
    my ($http) = @_;
    $t->write_conf(<<"EOF", 'bad.conf');
%%GLOBALS%%
%%REDIS_DEBUG%%
events {}
http {
    $http
    server { listen 127.0.0.1:%%PORT_bad%%; }
}
EOF
    my ($ok, $out) = $t->nginx_t('bad.conf');
    return $ok ? '' : $out;
}

like(conf_error('cms_redis redis.example.com:6379;'),
     qr/is not an IPv4 address: host names are refused/, 'host name refused');
like(conf_error('cms_redis [::1]:6379;'), qr/IPv6 addresses are not/,
     'IPv6 refused');
like(conf_error('cms_redis 127.0.0.1:0;'), qr/invalid port/, 'bad port');
like(conf_error('cms_redis 127.0.0.1 nosuch=1;'),
     qr/invalid parameter "nosuch=1"/, 'unknown parameter');
like(conf_error('cms_redis sentinel;'), qr/needs "cms_redis_sentinel"/,
     'sentinel keyword without Sentinels');
like(conf_error('cms_redis_sentinel 127.0.0.1:26379 password=x;'),
     qr/needs "master=<name>"/, 'Sentinel without master=');
like(conf_error('cms_redis 127.0.0.1:6379; '
                . 'cms_redis_sentinel 127.0.0.1:26379 master=m;'),
     qr/has an address, but "cms_redis_sentinel"/, 'both addresses');
like(conf_error('server { listen 127.0.0.1:%%PORT_bad2%%; '
                . 'cms_redis_stream x; }'),
     qr/"cms_redis_stream" in .* needs "cms_redis"/,
     'stream without Redis');
is(conf_error('cms_redis unix:/tmp/x.sock command_timeout=250ms db=1;'),
   '', 'a valid configuration passes');

is(status()->{pid}, $pid, 'same worker all along');

$t->done;
