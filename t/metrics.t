#!/usr/bin/env perl

# cms_metrics: the Prometheus text of a real nginx (two workers, so the
# counters must come from the shared zone) in front of the simulator.
# Every count is exact: calls by operation, method class, status class,
# bridge and role; denials by plugin and rule; the proxy's own answers by
# reason; report-only rules; the latency histograms; the bridges' gauges
# and the active bridge across a manual failover and failback; counters
# kept across a reload; promtool check metrics on the live scrape.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use File::Temp qw(tempfile);
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;

$t->write_file('htpasswd', "tms:{PLAIN}tms-pw\nops:{PLAIN}ops-pw\n");
chmod 0711, $t->dir;
chmod 0644, $t->dir . '/htpasswd';

my $conf = <<'EOF';
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 2;
pid %%TESTDIR%%/nginx.pid;
error_log %%TESTDIR%%/error.log info;

events {}
http {
    access_log %%TESTDIR%%/access.log;
    cms_audit_log %%TESTDIR%%/audit.log;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=1s fall=2 rise=2;
        cms_discovery off;
    }

    cms_role scheduler tms;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_credentials inject;
            cms_plugins policy moves audit;
            cms_move_roles scheduler;
            cms_policy_rule keep-spaces deny op=coSpace.delete;
            cms_policy_rule no-profiles deny op=callProfile.list %%MODE%%;
            proxy_pass http://cms;
        }

        # no plugins at all: still counted
        location /api/v1/system/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location = /metrics {
            cms_metrics;
        }

        location = /cms-status {
            cms_status;
        }

        location /cms-admin/ {
            auth_basic "ops";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_admin;
        }
    }
}
EOF

sub write_conf {
    my ($mode) = @_;
    (my $c = $conf) =~ s/%%MODE%%/$mode/;
    $t->write_conf($c);
}

write_conf('mode=report');
$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');
my %tms = (user => 'tms', password => 'tms-pw');
my %ops = (user => 'ops', password => 'ops-pw');

# --- the scrape, parsed: { 'name{labels}' => value }, and the raw text

sub scrape {
    my $r = $t->http('GET', $P, '/metrics');
    die "scrape: $r->{status}" unless $r->{status} == 200;
    my %m;
    for (split /\n/, $r->{content}) {
        next if /^#/ || !length;
        /^(\S+(?:\{.*\})?) (\S+)$/ or die "bad line: $_";
        $m{$1} = $2;
    }
    return (\%m, $r);
}

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    return $r->{status} == 200 ? $t->{json}->decode($r->{content}) : undef;
}

sub wait_for {
    my ($cond) = @_;
    my $deadline = time + 20;
    while (time < $deadline) {
        my ($m) = scrape();
        return $m if $cond->($m);
        sleep 0.1;
    }
    return undef;
}

# both bridges checked and up before the traffic
ok(wait_for(sub {
    ($_[0]{'cms_bridge_up{upstream="cms",bridge="core1"}'} // 0) == 1
    && ($_[0]{'cms_bridge_up{upstream="cms",bridge="core2"}'} // 0) == 1
}), 'both bridges up in the gauges');

my ($m, $res) = scrape();
is($res->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'the text format 0.0.4');
is($m->{'cms_bridge_active{upstream="cms",bridge="core1"}'}, 1,
   'core1 is the active bridge');
is($m->{'cms_bridge_active{upstream="cms",bridge="core2"}'}, 0,
   'core2 is not');
is($m->{'cms_bridge_primary{upstream="cms",bridge="core1"}'}, 1,
   'core1 is the primary');
is($m->{'cms_failover_epoch{upstream="cms"}'}, 0, 'epoch 0');
is($m->{'cms_bridge_credentials_ok{upstream="cms",bridge="core2"}'}, 1,
   'core2 accepts our credentials');
ok($m->{'cms_bridge_checks_total{upstream="cms",bridge="core1"}'} >= 1,
   'health checks counted');

# --- traffic: every count below is exact

my $N = 7;
my $ok = 0;
for (1 .. $N) {
    $ok++ if $t->http('GET', $P, '/api/v1/coSpaces', %tms)->{status} == 200;
}
is($ok, $N, "$N coSpace listings answered");

my $r = $t->http('DELETE', $P, '/api/v1/coSpaces/abc', %tms);
is($r->{status}, 403, 'a coSpace.delete is refused by the policy');

$r = $t->http('GET', $P, '/api/v1/callProfiles', %tms);
is($r->{status}, 200, 'a report-only rule lets callProfile.list through');

$r = $t->http('POST', $P, '/api/v1/coSpaces', %tms,
              body => 'name=a&name=b');
is($r->{status}, 400, 'a body naming a parameter twice is bad input');

$r = $t->http('GET', $P, '/api/v1/system/status');
is($r->{status}, 200, 'a call in a location without plugins');

# a call is counted in the log phase, after its answer, maybe by another
# worker than the one answering the scrape: wait until all 11 calls (and
# the last thing each one counts, its histogram) are in

sub sum_of {
    my ($m, $re) = @_;
    my $n = 0;
    $n += $m->{$_} for grep { /$re/ } keys %$m;
    return $n;
}

$m = wait_for(sub {
    sum_of($_[0], qr/^cms_api_requests_total\{/) == $N + 4
    && sum_of($_[0], qr/^cms_proxy_added_seconds_count\{/) == $N + 4
});
ok($m, 'every call counted');

my $req = 'cms_api_requests_total{operation="coSpace.list",method="read",'
        . 'status="2xx",bridge="core1",role="scheduler"}';
is($m->{$req}, $N, 'calls by operation, method, status, bridge and role: '
   . 'every worker\'s in one count');
is($m->{'cms_api_requests_total{operation="coSpace.delete",method="write",'
        . 'status="4xx",bridge="none",role="scheduler"}'}, 1,
   'the refused call: no bridge');
is($m->{'cms_api_requests_total{operation="system.status.get",method="read",'
        . 'status="2xx",bridge="core1",role="none"}'}, 1,
   'the call of the location without plugins, without a role');
is($m->{'cms_denials_total{plugin="policy",rule="keep-spaces"}'}, 1,
   'the denial by plugin and rule');
is($m->{'cms_proxy_answers_total{reason="denied"}'}, 1,
   'the proxy answered the denial itself');
is($m->{'cms_proxy_answers_total{reason="bad_request"}'}, 1,
   'and the bad input');
is($m->{'cms_policy_would_deny_total{rule="no-profiles"}'}, 1,
   'the report-only rule is counted');
ok(!grep({ /^cms_denials_total\{.*no-profiles/ } keys %$m),
   'and is no denial');

# the histograms: cumulative buckets from 0.1 ms to 10 s, +Inf = count

my $h = 'cms_proxy_added_seconds';
my @le = qw(0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1
            0.25 0.5 1 2.5 5 10 +Inf);
my @b = map { $m->{"${h}_bucket{family=\"coSpace\",le=\"$_\"}"} } @le;
ok(!grep({ !defined } @b), 'every bucket of the coSpace family is there');
ok(!grep({ $b[$_] < $b[$_ - 1] } 1 .. $#b), 'the buckets are cumulative');
is($b[-1], $N + 2, '+Inf counts every coSpace call (7 listed, 1 denied, '
   . '1 bad)');
is($m->{"${h}_count{family=\"coSpace\"}"}, $N + 2, 'as does _count');
is($m->{"cms_bridge_seconds_count{family=\"coSpace\"}"}, $N,
   'bridge time only for the calls a bridge answered');
ok(defined $m->{"${h}_sum{family=\"coSpace\"}"}, 'and a sum');

# --- promtool on the live scrape

SKIP: {
    skip 'promtool is not installed', 1
        unless -x '/usr/bin/promtool';
    my $text = $t->http('GET', $P, '/metrics')->{content};
    $t->write_file('scrape.txt', $text);
    my $out = `promtool check metrics < ${\ $t->dir}/scrape.txt 2>&1`;
    is(($? >> 8) . $out, '0', 'promtool check metrics: clean')
        or diag $out;
}

# --- the audit record of the reported call

# written in the log phase, after the answer: waited for (valgrind is slow)
my $rec;
my $until = time + 20;
while (!$rec && time < $until) {
    ($rec) = grep { ($_->{operation} // '') eq 'callProfile.list' }
             map { $t->{json}->decode($_) }
             split /\n/, $t->read_file('audit.log') // '';
    sleep 0.1 unless $rec;
}
like($rec->{would_deny} // '', qr/^403 invalidOperation policy rule no-profiles/,
     'the audit record says what would have been refused and why');
is($rec->{verdict}, 'pass', 'and the verdict is still a pass');

# --- manual failover and failback: the active bridge, counted by cause

$r = $t->http('POST', $P, '/cms-admin/failover?to=core2', %ops);
is($r->{status}, 200, 'manual failover to core2');

$m = wait_for(sub {
    ($_[0]{'cms_bridge_active{upstream="cms",bridge="core2"}'} // 0) == 1
});
ok($m, 'core2 is now the active bridge in the gauges');
is($m->{'cms_bridge_active{upstream="cms",bridge="core1"}'}, 0, 'core1 not');
is($m->{'cms_failover_epoch{upstream="cms"}'}, 1, 'epoch 1');
is($m->{'cms_failovers_total{upstream="cms",cause="manual"}'}, 1,
   'one manual failover');
is($m->{'cms_failover_manual{upstream="cms"}'}, 1, 'pinned by hand');

$r = $t->http('GET', $P, '/api/v1/coSpaces', %tms);
my $core2 = 'cms_api_requests_total{operation="coSpace.list",method="read",'
          . 'status="2xx",bridge="core2",role="scheduler"}';
$m = wait_for(sub { defined $_[0]{$core2} });
is($m && $m->{$core2}, 1, 'the next call is counted for core2');

$r = $t->http('POST', $P, '/cms-admin/failback', %ops);
is($r->{status}, 200, 'failback');
$m = wait_for(sub {
    ($_[0]{'cms_bridge_active{upstream="cms",bridge="core1"}'} // 0) == 1
});
is($m->{'cms_failbacks_total{upstream="cms",cause="manual"}'}, 1,
   'one manual failback');

# --- a participant move: counted by outcome, from the moves plugin's event

{
    my @call;
    for my $n (1, 2) {
        my $loc = $t->http('POST', $P, '/api/v1/coSpaces', %tms,
                           body => "name=Move $n")->{headers}{location};
        my ($space) = $loc =~ m{([^/]+)$};
        $loc = $t->http('POST', $P, '/api/v1/calls', %tms,
                        body => "coSpace=$space")->{headers}{location};
        push @call, $loc =~ m{([^/]+)$};
    }
    my $pid = $t->sim('POST', '/_sim/participants',
                      { bridge => 'core1', call => $call[0],
                        name => 'User X' })->{id};
    $r = $t->http('POST', $P, "/api/v1/calls/$call[1]/participants", %tms,
                  body => "movedParticipant=$pid&needsActivation=false");
    is($r->{status}, 200, 'a participant moved');
    # the event comes from the log phase, after the answer
    $m = wait_for(sub { ($_[0]{'cms_moves_total{outcome="moved"}'} // 0) >= 1 });
    is($m && $m->{'cms_moves_total{outcome="moved"}'}, 1,
       'one move, outcome moved');
}

# --- a reload: the counters go on (Prometheus sees no reset); the rule
# reported before is enforced now

write_conf('');
$t->reload_nginx;

my $deadline = time + 20;
my $status = 0;
while (time < $deadline) {
    $status = $t->http('GET', $P, '/api/v1/callProfiles', %tms)->{status};
    last if $status == 403;
    sleep 0.1;
}
is($status, 403, 'after a reload without mode=report the rule refuses');

$m = wait_for(sub {
    ($_[0]{'cms_denials_total{plugin="policy",rule="no-profiles"}'} // 0) >= 1
});
ok($m, 'the refusal is a denial now');
ok($m && $m->{$req} >= $N, 'and the call counter survived the reload');

# --- configuration errors

$t->write_conf(<<'EOF', 'bad.conf');
%%GLOBALS%%
events {}
http { server { cms_metrics; } }
EOF
my ($okc, $out) = $t->nginx_t('bad.conf');
ok(!$okc, 'cms_metrics outside a location is refused');
like($out, qr/"cms_metrics" directive is not allowed here/, 'by nginx');

$t->done;
