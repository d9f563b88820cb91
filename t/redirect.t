#!/usr/bin/env perl

# A call whose answer an error_page sends to another location (which
# wipes the module context) still gets exactly one audit record, logged
# in the log phase, and the worker survives (log hooks must never run
# from the pool cleanup, where r->pool is already gone).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    cms_audit_log %%TESTDIR%%/audit.log scope=all;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins audit policy;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_intercept_errors on;
            error_page 404 = @missing;
        }

        location @missing {
            return 404 "no such thing\n";
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

for (1 .. 3) {
    my $r = $t->http('GET', $P,
                     '/api/v1/coSpaces/00000000-0000-0000-0000-000000000000');
    is($r->{status}, 404, "redirected answer $_");
    is($r->{content}, "no such thing\n", "from the named location $_");
}

my $ok = $t->http('GET', $P, '/api/v1/system/status');
is($ok->{status}, 200, 'the worker is still serving');

my @records;
for (1 .. 60) {
    @records = map { decode_json($_) } grep { length }
               split /\n/, $t->read_file('audit.log');
    last if @records >= 4;
    select(undef, undef, undef, 0.05);
}

my @redirected = grep { $_->{operation} eq 'coSpace.get' } @records;
is(scalar @redirected, 3, 'one record per redirected call, no duplicate');
is($redirected[0]{status}, 404, 'with the status the client got');
is(scalar(grep { $_->{operation} eq 'system.status.get' } @records), 1,
   'and the normal call has its record');

unlike($t->error_log, qr/exited on signal/, 'no worker crashed');

$t->done;
