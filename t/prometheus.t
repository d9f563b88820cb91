#!/usr/bin/env perl

# The metrics as Prometheus and Grafana use them: a real Prometheus
# (Debian's) scrapes a real nginx with the module in front of the
# simulator, on loopback, with the alert rules of conf/prometheus loaded.
# Traffic and a failover (the primary refuses connections) go through,
# and Prometheus's HTTP API must show the counters, the latency histogram,
# the active bridge changing and the failover alert firing.  Every metric
# the rules and the Grafana dashboard use must be one the module exports;
# promtool checks the live scrape and unit-tests the rules.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use CmsTest;

my $PROMETHEUS = '/usr/bin/prometheus';
my $PROMTOOL = '/usr/bin/promtool';

plan skip_all => 'prometheus is not installed (Debian: apt-get install '
    . 'prometheus; make test installs it)'
    unless -x $PROMETHEUS && -x $PROMTOOL;

my $t = CmsTest->new;
my $ROOT = $CmsTest::ROOT;
my $RULES = "$ROOT/conf/prometheus/cms.rules.yml";
my $DASHBOARD = "$ROOT/conf/grafana/ngx_cms.json";

$t->start_sim;
$t->start_redis;

$t->write_file('htpasswd', "tms:{PLAIN}tms-pw\n");
chmod 0711, $t->dir;
chmod 0644, $t->dir . '/htpasswd';
mkdir $t->dir . '/spool';
chmod 0777, $t->dir . '/spool';

$t->write_conf(<<'EOF');
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 2;
pid %%TESTDIR%%/nginx.pid;
error_log %%TESTDIR%%/error.log info;

events {}
http {
    access_log %%TESTDIR%%/access.log;

    cms_redis 127.0.0.1:%%PORT_redis%% prefix=prom:;
    cms_redis_spool %%TESTDIR%%/spool;
    cms_audit_log %%TESTDIR%%/audit.log;
    cms_audit_stream audit;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=1s fall=2 rise=2;
        cms_failback manual;
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
            cms_plugins policy audit;
            cms_policy_rule keep-spaces deny op=coSpace.delete;
            proxy_pass http://cms;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
        }

        location = /metrics {
            cms_metrics;
        }

        location = /cms-status {
            cms_status;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');
my %tms = (user => 'tms', password => 'tms-pw');

# --- every metric the rules and the dashboard name is exported

my $scrape = $t->http('GET', $P, '/metrics')->{content};
my %exported;
while ($scrape =~ /^# TYPE (\S+) (\S+)$/mg) {
    my ($name, $type) = ($1, $2);
    $exported{$name} = 1;
    if ($type eq 'histogram') {
        $exported{"${name}_$_"} = 1 for qw(bucket sum count);
    }
}
ok(keys %exported > 40, scalar(keys %exported) . ' metric names exported');

# the expressions only: the rules' (not their comments and texts), the
# dashboard's queries and its variable's
sub slurp {
    open my $fh, '<', $_[0] or die "$_[0]: $!";
    local $/;
    return <$fh>;
}

my @exprs = grep { !/^\s*#/ && !/^\s*(summary|description):/ }
            split /\n/, slurp($RULES);
my $dash = $t->{json}->decode(slurp($DASHBOARD));
push @exprs, map { $_->{expr} } map { @{ $_->{targets} } }
             @{ $dash->{panels} };
push @exprs, map { $_->{definition} } @{ $dash->{templating}{list} };

my %used;
$used{$_} = 1 for map { /\b(cms_[a-z0-9_]+)\b/g } @exprs;
ok(keys %used > 30, scalar(keys %used) . ' metric names used by the rules '
   . 'and the dashboard');
my @missing = grep { !$exported{$_} } sort keys %used;
is("@missing", '', 'every one of them is exported by the module');

$t->write_file('scrape.txt', $scrape);
my $out = `$PROMTOOL check metrics < ${\ $t->dir}/scrape.txt 2>&1`;
is(($? >> 8) . $out, '0', 'promtool check metrics on a live scrape: clean');

$out = `cd $ROOT/conf/prometheus && $PROMTOOL check rules cms.rules.yml 2>&1`;
is($? >> 8, 0, 'promtool check rules') or diag $out;
$out = `cd $ROOT/conf/prometheus && $PROMTOOL test rules cms.rules.test.yml 2>&1`;
is($? >> 8, 0, 'promtool test rules: every alert fires and clears')
    or diag $out;

# --- a real Prometheus, scraping every second

my $PP = $t->port('prometheus');
$t->write_file('prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: cms
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$P']
EOF

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', $t->dir . '/prometheus.log' or die;
    open STDERR, '>&', \*STDOUT or die;
    exec($PROMETHEUS, '--config.file=' . $t->dir . '/prometheus.yml',
         '--storage.tsdb.path=' . $t->dir . '/tsdb',
         "--web.listen-address=127.0.0.1:$PP",
         '--log.level=warn') or die "exec: $!";
}
$t->{pids}{prometheus} = $pid;
$t->wait_port($PP);

my $ua = HTTP::Tiny->new(timeout => 10);

sub query {
    my ($q) = @_;
    my $r = $ua->get("http://127.0.0.1:$PP/api/v1/query?"
                     . $ua->www_form_urlencode({ query => $q }));
    return undef unless $r->{success};
    my $d = $t->{json}->decode($r->{content});
    return $d->{data}{result};
}

# the value of a query with one result, polled until it satisfies $cond
sub until_value {
    my ($q, $cond) = @_;
    my $deadline = time + 60;
    my $v;
    while (time < $deadline) {
        my $res = query($q);
        if ($res && @$res == 1) {
            $v = $res->[0]{value}[1];
            return $v if $cond->($v);
        }
        sleep 0.25;
    }
    diag "$q: last value " . ($v // 'none');
    return undef;
}

ok(defined until_value('up{job="cms"}', sub { $_[0] == 1 }),
   'Prometheus scrapes nginx');
ok(defined until_value('cms_bridge_active{bridge="core1"}',
                       sub { $_[0] == 1 }),
   'core1 is the active bridge, in Prometheus');

# --- traffic, then the primary goes away, then more traffic

my $N = 5;
for (1 .. $N) {
    $t->http('GET', $P, '/api/v1/coSpaces', %tms)->{status} == 200
        or die 'a listing failed';
}
is($t->http('DELETE', $P, '/api/v1/coSpaces/x', %tms)->{status}, 403,
   'one call refused');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });

my $deadline = time + 30;
my $active = '';
while (time < $deadline) {
    my $s = $t->{json}->decode($t->http('GET', $P, '/cms-status')->{content});
    $active = $s->{upstreams}[0]{active};
    last if $active eq 'core2';
    sleep 0.1;
}
is($active, 'core2', 'the health checks failed over to core2');

for (1 .. $N) {
    $t->http('GET', $P, '/api/v1/coSpaces', %tms)->{status} == 200
        or die 'a listing failed';
}

ok(defined until_value(
       'sum(cms_api_requests_total{operation="coSpace.list",status="2xx"})',
       sub { $_[0] == 2 * $N }),
   'the call counter, summed over bridges');
ok(defined until_value(
       'cms_api_requests_total{operation="coSpace.list",bridge="core2"}',
       sub { $_[0] == $N }),
   'the calls after the failover went to core2');
ok(defined until_value('sum(cms_denials_total{rule="keep-spaces"})',
                       sub { $_[0] == 1 }),
   'the denial counter');
ok(defined until_value(
       'cms_proxy_added_seconds_count{family="coSpace"}',
       sub { $_[0] == 2 * $N + 1 }),
   'the histogram\'s count');
my $p99 = until_value(
    'histogram_quantile(0.99, sum by (le) '
    . '(cms_proxy_added_seconds_bucket{family="coSpace"}))',
    sub { $_[0] =~ /^[0-9.e+-]+$/ && $_[0] > 0 && $_[0] <= 10 });
ok(defined $p99, "a 99th percentile of the proxy-added time: ${\ ($p99 // '?')} s");
ok(defined until_value(
       'cms_bridge_seconds_count{family="coSpace"}',
       sub { $_[0] == 2 * $N }),
   'the bridge time histogram');

ok(defined until_value('cms_bridge_active{bridge="core2"}',
                       sub { $_[0] == 1 }),
   'Prometheus sees core2 active now');
ok(defined until_value('min_over_time(cms_bridge_active{bridge="core2"}[10m])',
                       sub { $_[0] == 0 }),
   'and not active before');
ok(defined until_value('cms_failovers_total{cause="health_check"}',
                       sub { $_[0] == 1 }),
   'one failover by the health checks');
ok(defined until_value('cms_failover_epoch', sub { $_[0] == 1 }),
   'epoch 1');
ok(defined until_value(
       'count(ALERTS{alertname="CmsFailoverHappened",alertstate="firing"})',
       sub { $_[0] == 1 }),
   'the failover alert fires in Prometheus');
ok(defined until_value('cms_redis_up', sub { $_[0] == 1 }),
   'Redis is up');
my $redis_master = '127.0.0.1:' . $t->port('redis');
ok(defined until_value("cms_redis_master_info{address=\"$redis_master\"}",
                       sub { $_[0] == 1 }),
   'the Redis master in use, by its address');
ok(defined until_value('cms_audit_stream_dropped_total',
                       sub { $_[0] == 0 }),
   'no audit record dropped');

$t->stop_process('prometheus');
$t->done;
