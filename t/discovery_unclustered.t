#!/usr/bin/env perl

# Cluster discovery against a single CMS that is not clustered.  Such a
# bridge lists no bridge at all; Cisco's example answer (cms-api.apib,
# "Call Bridge Methods") is, byte for byte:
#
#   <?xml version="1.0"?>
#   <callBridges total="0"/>
#
# A single unclustered bridge is a normal deployment: it must not warn
# that the cluster differs from the configuration, and the status JSON,
# the discovery event and the error log must say the same thing.  With
# two configured bridges the answer does not name the second one, which
# then is missing in all three places.  A clustered answer is the
# control: "clustered" true, nothing missing.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $CISCO_EXAMPLE = qq{<?xml version="1.0"?>\n<callBridges total="0"/>};

sub run_case {
    my (%c) = @_;

    my $t = CmsTest->new;

    $t->start_sim(bridges => [
        { name => 'core1', user => 'admin', password => 'secret1' },
        { name => 'core2', user => 'admin2', password => 'secret2' },
    ], args => [$c{clustered} ? () : ('--unclustered')]);

    my $second = $c{two}
        ? 'cms_bridge core2 http://127.0.0.1:%%PORT_core2%% '
          . 'user=admin2 password=secret2 backup;'
        : '';

    $t->write_conf(<<"EOF");
%%GLOBALS%%
events {}
http {
    upstream cms {
        cms_bridge core1 http://127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        $second
        cms_health_check interval=300ms timeout=300ms;
        cms_discovery on interval=1s;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        location = /cms-status { cms_status; }
    }
}
EOF

    $t->run_nginx(ports => [$t->port('proxy')]);

    my $P = $t->port('proxy');
    my $s;
    my $deadline = time + 15;

    while (time < $deadline) {
        my $r = $t->http('GET', $P, '/cms-status');
        $s = $t->{json}->decode($r->{content})->{upstreams}[0]{discovery};
        last if $s->{at} && defined $s->{clustered};
        sleep 0.05;
    }

    # wait for the log line written right after the status was updated
    $deadline = time + 5;
    sleep 0.05 while time < $deadline
                     && $t->error_log !~ /cms event discovery cms: /;

    return ($t, $s);
}

# CmsTest::done without done_testing: three cases in one file
sub finish {
    my ($t) = @_;

    $t->stop_nginx($_) for grep { /^nginx/ } keys %{ $t->{pids} };
    $t->stop_process($_) for keys %{ $t->{pids} };

    my @bad = grep { /\[(alert|emerg)\]|AddressSanitizer|runtime error:/ }
              split /\n/, $t->error_log;
    is(join("\n", @bad), '', 'no alerts in error.log');
}

# --- Cisco's example: a single unclustered bridge

my ($t, $s) = run_case(clustered => 0, two => 0);

my $direct = $t->http('GET', $t->port('core1'), '/api/v1/callBridges',
                      user => 'admin', password => 'secret1');
is($direct->{content}, $CISCO_EXAMPLE,
   'the bridge answers Cisco\'s example XML for an unclustered CMS');

ok($s->{at}, 'discovery ran');
is($s->{error}, undef, 'without error');
is($s->{clustered}, JSON::PP::false, 'status: not clustered');
is_deeply($s->{bridges}, [], 'status: no bridge listed');
is_deeply($s->{missing}, [], 'status: nothing missing');
is_deeply($s->{unknown}, [], 'status: nothing unknown');

my $log = $t->error_log;
unlike($log, qr/the cluster differs from the configuration/,
       'no warning that the cluster differs');
like($log, qr/\[info\].*cms: upstream "cms": bridge "core1" is not clustered/,
     'the error log says the bridge is not clustered');
like($log, qr/cms event discovery cms: .*"clustered":false,"unknown":\[\],"missing":\[\]/,
     'the event says the same');

finish($t);

# --- two bridges configured, the active one not clustered: core2 missing

($t, $s) = run_case(clustered => 0, two => 1);

is($s->{clustered}, JSON::PP::false, 'status: not clustered');
is_deeply($s->{missing}, ['core2'], 'status: core2 is missing');

$log = $t->error_log;
like($log, qr/\[warn\].*the cluster differs from the configuration: .*"clustered":false,"unknown":\[\],"missing":\["core2"\]/,
     'the error log warns about core2 and only core2');
like($log, qr/cms event discovery cms: .*"missing":\["core2"\]/,
     'and so does the event');

finish($t);

# --- the control: a clustered answer naming the configured bridge

($t, $s) = run_case(clustered => 1, two => 1);

is($s->{clustered}, JSON::PP::true, 'status: clustered');
is(scalar @{ $s->{bridges} }, 2, 'status: both bridges listed');
is_deeply($s->{missing}, [], 'status: nothing missing');
$log = $t->error_log;
unlike($log, qr/the cluster differs/, 'no warning');
like($log, qr/the cluster matches the configuration \(2 bridges\)/,
     'the error log says it matches');
like($log, qr/cms event discovery cms: .*"clustered":true,"unknown":\[\],"missing":\[\]/,
     'and so does the event');

$t->done;
