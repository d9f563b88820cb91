#!/usr/bin/env perl

# A reload while a slot check-out waits for Redis: the old worker must
# answer that request before it exits.  The decision is a Redis script
# call not bound to the request's pool (its reply must undo a
# reservation even when the client is gone), so nothing kept the worker
# alive: it exited at once, failed the call from its exit hook and left
# the client's socket open ("[alert] open socket #N left in connection",
# found by the chaos soak, bench/chaos/run).  Redis is held up with
# CLIENT PAUSE so the check-out is surely waiting when nginx reloads.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsSeed qw(tms_session);

my $t = CmsTest->new;

$t->start_sim;
my $redis = $t->start_redis;

$t->write_conf(<<"EOF");
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:$redis prefix=reload: command_timeout=5s;
    cms_slot_redis_down closed;

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
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $P = $t->port('proxy');

sub api {
    my ($method, $path, $body) = @_;
    return $t->http($method, $P, $path, body => $body,
                    user => 'tms', password => 'x');
}

# the pool, and a meeting through it: the slots are known
my $s = tms_session(\&api);
is(scalar(grep { $_->{status} == 200 } @$s), 27, 'TMS session: 27 x 200');

my ($space) = api(GET => '/api/v1/coSpaces')->{content}
    =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_2</;
ok($space, 'slot 2 is known');

# Redis holds every client's commands for two seconds
is(`redis-cli -p $redis CLIENT PAUSE 2000 ALL`, "OK\n", 'Redis paused');

my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$P", Timeout => 5)
    or die "connect: $!";
my $body = '&nonMemberAccess=true&passcode=&name=Reload Meeting&secret=r';
print $c "PUT /api/v1/cospaces/$space HTTP/1.1\r\nHost: x\r\n"
       . "Authorization: Basic dG1zOng=\r\nConnection: close\r\n"
       . "Content-Type: application/x-www-form-urlencoded\r\n"
       . "Content-Length: " . length($body) . "\r\n\r\n$body";

sleep 0.3;
$t->reload_nginx;

my $sel = IO::Select->new($c);
my $answer = '';
my $deadline = time + 10;
while (time < $deadline && $sel->can_read($deadline - time)) {
    my $n = sysread($c, $answer, 65536, length $answer);
    last unless $n;
}

like($answer, qr{^HTTP/1\.1 200 }, 'the waiting check-out is answered: 200');

sleep 0.5;
unlike($t->error_log, qr/open socket #\d+ left in connection/,
       'no socket left open by the old worker');

$t->done;
