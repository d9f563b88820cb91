#!/usr/bin/env perl

# The slot status is valid JSON for a pool that is defined but not
# active yet (its bulk parameter set seen, its sync not): it had a
# double comma there (",\"generation\":0,,\"slots\":[]"), found by the
# chaos soak (bench/chaos/run) polling /slots right after the set.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use CmsTest;
use CmsSeed qw(id_of);

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

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

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

my $r = $t->http('POST', $P, '/api/v1/cospaceBulkParameterSets',
                 body => 'startIndex=1&endIndex=3&coSpaceUriMapping='
                       . '&coSpaceNameMapping=Slot_$index$'
                       . '&coSpaceCallIdMapping=&nonMemberAccess=false',
                 user => 'tms', password => 'x');
is($r->{status}, 200, 'the bulk parameter set is created');
ok(id_of($r->{headers}{location}), 'and has an id');

$r = $t->http('GET', $P, '/slots');
is($r->{status}, 200, 'the status answers');

my $st = eval { JSON::PP->new->decode($r->{content}) };
ok($st, 'valid JSON with a pool defined, not active')
    or diag($r->{content});

my ($pool) = @{ $st->{pools} || [] };
ok($pool && !$pool->{active}, 'the pool is there, not active');
is_deeply($pool && $pool->{slots}, [], 'no slots yet');

$t->done;
