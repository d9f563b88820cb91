#!/usr/bin/env perl

# A bridge named in UTF-8 (CMS deployments name things in Chinese,
# German, ...): the status answer, the admin answer and the failover
# event are valid JSON with the name intact, not Latin-1 mojibake (the
# project has one JSON escaper, ngx_cms_json_escape.c, that passes valid
# UTF-8 as it is).

use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Encode qw(encode_utf8);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

my $PRIMARY = 'Zürich-北京';
my $BACKUP = 'Groß-上海';

$t->start_sim;

$t->write_conf(encode_utf8(<<"EOF"));
%%GLOBALS%%
events {}
http {
    access_log off;
    cms_audit_log %%TESTDIR%%/audit.log;

    upstream cms {
        cms_bridge $PRIMARY 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge $BACKUP 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=200ms timeout=500ms fall=1 rise=1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location = /status {
            cms_status;
        }

        location /admin/ {
            cms_admin;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub status {
    my $r = $t->http('GET', $P, '/status');
    return eval { $json->decode($r->{content}) } || {};
}

my $s = status();
ok($s->{upstreams}, 'the status is valid JSON');
is_deeply([map { $_->{name} } @{ $s->{upstreams}[0]{bridges} || [] }],
          [$PRIMARY, $BACKUP], 'both names intact');
is($s->{upstreams}[0]{active}, $PRIMARY, 'the active one by its name');

my $to = encode_utf8($BACKUP) =~ s/([^A-Za-z0-9-])/sprintf('%%%02X', ord $1)/ger;
my $r = $t->http('POST', $P, "/admin/failover?to=$to");
is($r->{status}, 200, 'failover to the backup, named in UTF-8');
ok(eval { $json->decode($r->{content}) }, "the admin answer is valid JSON: $r->{content}")
    or diag($r->{content});

ok(wait_for('the failover',
            sub { (status()->{upstreams}[0]{active} // '') eq $BACKUP }),
   'the status names the new active bridge');

my @events;
wait_for('the failover event', sub {
    @events = grep { ($_->{kind} // '') eq 'event'
                     && ($_->{type} // '') eq 'failover' }
              map { eval { $json->decode($_) } // () }
              split /\n/, (eval { $t->read_file('audit.log') } // '');
    @events;
});
ok(@events, 'a failover event in the audit log, valid JSON');
like($json->canonical->encode($events[-1]), qr/\Q@{[encode_utf8($BACKUP)]}\E/,
     'the event names the bridge intact');

$t->done;
