#!/usr/bin/env perl

# The slots plugin's directives, each shown doing what the README says:
#
#   cms_slot_pool                   a pool that exists already is known
#                                   from the configuration and read from CMS
#   cms_slot_reconcile_at_start on  ... when the worker starts, unasked
#   cms_slot_upstream               ... through the upstream named (told
#                                   apart by the credentials it sends)
#   cms_slot_bridge_timeout         a bridge that does not answer fails
#                                   the reconciliation after that time
#   cms_slots_zone                  the shared zone has that size
#   cms_slot_redis on|off           the table is in Redis, or not at all
#   cms_slot_redis_down closed      Redis down: check-outs get 400
#                                   slotTableUnavailable, the bridge sees
#                                   nothing
#   cms_slot_redis_down open        Redis down: the zone decides

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use MIME::Base64 ();
use CmsTest;
use CmsSeed qw(id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

$t->start_sim;
my $redis = $t->start_redis;

# the pool exists on core2 before any proxy: four spaces, made straight
my @space;
for my $i (1 .. 4) {
    push @space, id_of($t->http('POST', $t->port('core2'), '/api/v1/coSpaces',
                                body => "name=TMS_Scheduled_Meeting_$i",
                                user => 'admin2', password => 'secret2')
                       ->{headers}{location});
}
is(scalar(grep { defined } @space), 4, 'four slot spaces made on core2');

# A: the pool, its own zone size, Redis on and closed when down, and
# reconciliation through "recon", which names core2 with other
# credentials than "cms" does
#
# B: the same pool with cms_slot_redis off; C: Redis on, open when down

my %extra = (
    a => <<'EOF',
    cms_slots_zone 200k;
    cms_slot_redis on;
    cms_slot_redis_down closed;
    cms_slot_upstream recon;
    cms_slot_reconcile_at_start on;
    cms_slot_bridge_timeout 2s;
EOF
    b => <<'EOF',
    cms_slot_redis off;
EOF
    c => <<'EOF',
    cms_slot_redis on;
    cms_slot_redis_down open;
EOF
);

for my $n (qw(a b c)) {
    $t->write_conf(<<"EOF", "$n.conf");
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 1;
pid %%TESTDIR%%/$n.pid;
error_log %%TESTDIR%%/error.log info;
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:$redis prefix=$n: command_timeout=2s;
    cms_slot_pool TMS_Scheduled_Meeting_\$index\$ 1 4;
$extra{$n}
    upstream cms {
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2;
    }

    upstream recon {
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=recon password=recon-pw;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy_$n%%;

        location /api/v1/ {
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
}

my %port = map { $_ => $t->port("proxy_$_") } qw(a b c);
my $RECON = 'Basic ' . MIME::Base64::encode_base64('recon:recon-pw', '');
my $CMS = 'Basic ' . MIME::Base64::encode_base64('admin2:secret2', '');

sub status {
    my ($n) = @_;
    my $r = $t->http('GET', $port{$n}, '/slots');
    return $r->{status} == 200 ? $json->decode($r->{content}) : {};
}

sub wait_for {
    my ($what, $cond) = @_;
    for (1 .. 300) {
        return 1 if $cond->();
        sleep 0.1;
    }
    fail("timed out waiting for $what");
    return 0;
}

sub api {
    my ($n, $method, $path, $body) = @_;
    return $t->http($method, $port{$n}, $path, body => $body,
                    user => 'tms', password => 'x');
}

sub checkout {
    my ($n, $i, $meeting) = @_;
    return api($n, PUT => "/api/v1/coSpaces/$space[$i - 1]",
               "nonMemberAccess=true&passcode=&name=$meeting&secret=s$i");
}

sub redis_keys {
    my ($prefix) = @_;
    my @k = split /\n/, `redis-cli -p $redis --raw KEYS '$prefix*'`;
    return sort @k;
}

# --- A starts: the configured pool is read from CMS, unasked, through
# the upstream cms_slot_upstream names

# core2 takes recon's credentials while A reconciles at its start
$t->sim('PUT', '/_sim/bridges/core2/credentials',
        { user => 'recon', password => 'recon-pw' });
$t->sim('DELETE', '/_sim/requests');

$t->run_nginx(conf => 'a.conf', key => 'nginx_a',
              pidfile => $t->dir . '/a.pid', ports => [$port{a}]);

ok(wait_for('A reconciled at start', sub { status('a')->{reconciliation}{last} }),
   'cms_slot_reconcile_at_start on: reconciled with nobody asking');
my $s = status('a');
is($s->{reconciliation}{error}, '', 'without an error')
    or diag(explain($s->{reconciliation}));

my @asked = grep { $_->{path} =~ m{^/api/v1/coSpaces} }
            @{ $t->sim_requests('core2') };
ok(@asked, 'core2 was asked for the pool\'s spaces: '
   . join(' ', map { "$_->{method} $_->{path}" } @asked));
is(scalar(grep { $_->{headers}{authorization} ne $RECON } @asked), 0,
   'cms_slot_upstream recon: every one of them with recon\'s credentials');
is(scalar @{ $t->sim_requests('core1') }, 0, 'core1 was never asked');

my ($pool) = grep { $_->{active} } @{ $s->{pools} };
ok($pool && $pool->{configured}, 'cms_slot_pool: the pool is configured');
is(join(' ', map { $_->{space} // '-' } @{ $pool->{slots} || [] }),
   join(' ', @space), 'with the four spaces CMS has, in slot order');

$t->sim('PUT', '/_sim/bridges/core2/credentials',
        { user => 'admin2', password => 'secret2' });

# --- cms_slots_zone 200k: the master maps a shared zone of that size

my $maps = do {
    open my $fh, '<', "/proc/$t->{pids}{nginx_a}/maps" or die "maps: $!";
    local $/;
    <$fh>;
};
my @sizes;
while ($maps =~ /^([0-9a-f]+)-([0-9a-f]+) rw-s .*\/dev\/zero/mg) {
    no warnings 'portable';
    push @sizes, hex($2) - hex($1);
}
ok((grep { $_ == 200 * 1024 } @sizes),
   'cms_slots_zone 200k: a shared mapping of 204800 bytes')
    or diag("shared mappings: @sizes");

# --- cms_slot_bridge_timeout 2s: a bridge that does not answer

$t->sim('PUT', '/_sim/bridges/core2/fault',
        { mode => 'hang', path => 'filter=' });
$t->sim('PUT', '/_sim/bridges/core2/credentials',
        { user => 'recon', password => 'recon-pw' });
my $rc = $t->http('POST', $port{a}, '/slots?reconcile');
ok(wait_for('the reconciliation failed', sub {
       my $r = status('a')->{reconciliation};
       !$r->{running} && ($r->{error} // '') ne '' }),
   'a hanging bridge: the reconciliation ends');
like(status('a')->{reconciliation}{error},
     qr/^listing: no answer, 127\.0\.0\.1:\d+ did not answer within 2000 ms/,
     'cms_slot_bridge_timeout: it gave up waiting for the listing');
$t->sim('PUT', '/_sim/bridges/core2/fault', { mode => 'none' });
$t->sim('PUT', '/_sim/bridges/core2/credentials',
        { user => 'admin2', password => 'secret2' });

# --- B and C start (reconciling through "cms", the default cms_slot_upstream
# being the first upstream with cms_bridge: core2 with its own credentials)

$t->run_nginx(conf => 'b.conf', key => 'nginx_b',
              pidfile => $t->dir . '/b.pid', ports => [$port{b}]);
$t->run_nginx(conf => 'c.conf', key => 'nginx_c',
              pidfile => $t->dir . '/c.pid', ports => [$port{c}]);
for my $n (qw(b c)) {
    ok(wait_for("$n reconciled", sub {
           my $p = (grep { $_->{active} } @{ status($n)->{pools} })[0];
           $p && (grep { defined $_->{space} } @{ $p->{slots} }) == 4 }),
       "$n: the pool's four spaces known");
}

# --- cms_slot_redis on / off

is(checkout('a', 1, 'Alpha')->{status}, 200, 'A: a check-out');
ok(wait_for('the slot in Redis', sub {
       grep { /^a:slots:space:\Q$space[0]\E$/ } redis_keys('a:slots') }),
   'cms_slot_redis on: the slot is in Redis');

is(checkout('b', 2, 'Beta')->{status}, 200, 'B: a check-out');
is(status('b')->{in_use}, 1, 'B: its zone has it');
is(join(' ', redis_keys('b:slots')), '',
   'cms_slot_redis off: no slot of B\'s in Redis');

# --- Redis down: closed refuses, open lets the zone decide

$t->stop_process('redis');
wait_for('A sees Redis gone', sub { !status('a')->{redis}{available} });
wait_for('C sees Redis gone', sub { !status('c')->{redis}{available} });
$t->sim('DELETE', '/_sim/requests');

my $r = checkout('a', 3, 'Gamma');
is($r->{status}, 400, 'cms_slot_redis_down closed: a check-out gets 400');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
   . qq{<slotTableUnavailable rule="redis-down" /></failureDetails>},
   'slotTableUnavailable, rule redis-down');
like($r->{headers}{'x-cms-proxy-reason'}, qr/cms_slot_redis_down is closed/,
     'the reason names the directive');
is(scalar(grep { $_->{method} eq 'PUT' } @{ $t->sim_requests('core2') }), 0,
   'the bridge never saw it');
is(api('a', GET => "/api/v1/coSpaces/$space[2]")->{status}, 200,
   'closed refuses check-outs only: a GET passes');

is(checkout('c', 4, 'Delta')->{status}, 200,
   'cms_slot_redis_down open: the zone decides, the check-out goes on');
is(scalar(grep { $_->{method} eq 'PUT' } @{ $t->sim_requests('core2') }), 1,
   'and reached the bridge');
is(checkout('c', 4, 'Other')->{status}, 400,
   'the zone still refuses a slot in use');

is(checkout('b', 3, 'Gamma')->{status}, 200,
   'B, without Redis for its slots, is not concerned');

$t->done;
