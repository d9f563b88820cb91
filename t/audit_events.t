#!/usr/bin/env perl

# The audit plugin's event hook: events (here a manual failover through
# the admin API) become records in the http-level cms_audit_log, and only
# there, as valid JSON with the emitter's detail embedded as an object.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use CmsTest;

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

$t->start_sim;

$t->write_file('htpasswd', "ops:{PLAIN}opsecret\n");

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_zone failover 1m;
    cms_audit_log %%TESTDIR%%/events.log;

    upstream cms {
        cms_bridge core1 http://127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 http://127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_discovery off;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        cms_audit_log %%TESTDIR%%/calls.log;

        location /api/v1/ {
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location /cms-admin/ {
            cms_admin;
            auth_basic "cms admin";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub lines {
    my @l = $t->read_file($_[0]) =~ /^(.+)\n/mg;
    return @l;
}

my $r = $t->http('POST', $P, '/cms-admin/failover?to=core2&reason=maintenance',
                 user => 'ops', password => 'opsecret');
is($r->{status}, 200, 'manual failover to core2');

for (1 .. 400) {
    last if grep { /"type":"failover"/ } lines('events.log');
    sleep 0.025;
}

my @ev = map { $json->decode($_) } grep { /"type":"failover"/ }
         lines('events.log');
is(scalar @ev, 1, 'one failover event record');

my $e = $ev[0] // {};
is($e->{kind}, 'event', 'kind event');
is($e->{subject}, 'core2', 'subject: the new active bridge');
is(ref $e->{detail}, 'HASH', 'detail embedded as an object');
is($e->{detail}{from}, 'core1', 'detail: from core1');
is($e->{detail}{to}, 'core2', 'detail: to core2');
ok($e->{detail}{manual}, 'detail: manual');
like($e->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO time');
like($e->{time_ms}, qr/^\d{13}$/, 'time_ms');

# an API call afterwards: its record goes to the server's file, the
# events stay in the http-level one

$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=After',
              user => 'admin', password => 'secret1');
is($r->{status}, 200, 'a call after the failover');

for (1 .. 400) {
    last if lines('calls.log') >= 1;
    sleep 0.025;
}

my @calls = map { $json->decode($_) } lines('calls.log');
is(scalar @calls, 1, 'one call record in the server\'s file');
is($calls[0]{bridge}, 'core2', 'sent to the new active bridge');
ok(!grep({ /"kind":"event"/ } lines('calls.log')),
   'no event records in the server\'s file');
ok(!grep({ /"kind":"call"/ } lines('events.log')),
   'no call records in the http-level file');

my $bad = grep { !eval { ref $json->decode($_) eq 'HASH' } }
          lines('events.log'), lines('calls.log');
is($bad, 0, 'every line is a JSON object');

$t->done;
