#!/usr/bin/env perl

# Core and moves directives no other test configures, each shown doing
# what the README says:
#
#   cms_max_params <n>              one parameter more: 400 failureDetails,
#                                   the bridge sees nothing
#   cms_credentials pass            written out under an http-level
#                                   inject: the client's Authorization
#                                   reaches the bridge unchanged
#   cms_bridge ... max_fails= fail_timeout=
#                                   nginx's passive accounting: a bridge
#                                   that failed max_fails times is not
#                                   tried again within fail_timeout
#   cms_move_upstream <name>        the canMove check asks that cluster
#   cms_move_check_timeout <time>   a bridge that does not answer the
#                                   check: the move goes on unchecked

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use MIME::Base64 ();
use CmsTest;
use CmsSeed qw(cmm_move id_of);

my $t = CmsTest->new;

$t->start_sim;

# the mover's role comes from a user nginx verified
$t->write_file('htpasswd', "cmm:{PLAIN}x\n");

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log off;
    cms_credentials inject;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    # the same bridges, core1 taken out for 60 s after one failure
    upstream cms_fails {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 max_fails=1 fail_timeout=60s;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    # and never taken out
    upstream cms_nofails {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 max_fails=0;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    # core2 alone: where the moves plugin is told to check
    upstream only_core2 {
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2;
    }

    cms_role mover cmm;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_max_params 3;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_pass%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials pass;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_inject%%;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_fails%%;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms_fails;
            proxy_next_upstream error timeout;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_nofails%%;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms_nofails;
            proxy_next_upstream error timeout;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_moves%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins moves;
            cms_move_roles mover;
            cms_move_check_can_move on;
            cms_move_upstream only_core2;
            cms_move_check_timeout 2s;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) }
                        qw(proxy pass inject fails nofails moves)]);

my %admin = (user => 'admin', password => 'secret1');

sub basic { 'Basic ' . MIME::Base64::encode_base64("$_[0]:$_[1]", '') }

sub bridge_log {
    my ($bridge) = @_;
    return map { "$_->{method} $_->{path}" } @{ $t->sim_requests($bridge) };
}

# --- cms_max_params 3

$t->sim('DELETE', '/_sim/requests');

my $r = $t->http('POST', $t->port('proxy'), '/api/v1/coSpaces', %admin,
                 body => 'name=Three&uri=three&passcode=1');
is($r->{status}, 200, 'cms_max_params 3: three parameters pass');

$r = $t->http('POST', $t->port('proxy'), '/api/v1/coSpaces', %admin,
              body => 'name=Four&uri=four&passcode=1&secondaryUri=x');
is($r->{status}, 400, 'a fourth: 400');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails><parameterError}
   . qq{ parameter="body" error="malformedBody" /></failureDetails>},
   'a CMS-style parameterError');
like($r->{headers}{'x-cms-proxy-reason'}, qr/too many parameters/,
     'the reason says why');

# empty components do not count, however many '&' there are
$r = $t->http('POST', $t->port('proxy'), '/api/v1/coSpaces', %admin,
              body => '&&name=Empties&&&uri=empties&&passcode=1&&');
is($r->{status}, 200, 'three parameters among empty components pass');
$r = $t->http('POST', $t->port('proxy'), '/api/v1/coSpaces', %admin,
              body => '&&&&&&&name=x&uri=y&passcode=1&secondaryUri=x');
is($r->{status}, 400, 'a fourth after empty components: 400');
like($r->{headers}{'x-cms-proxy-reason'} // '', qr/too many parameters/,
     '... too many parameters');

is(join(' | ', bridge_log('core1')),
   'POST /api/v1/coSpaces | POST /api/v1/coSpaces',
   'only the three-parameter bodies reached the bridge');

# --- cms_credentials pass, written out under an http-level inject: the
# bridge accepts the client's account only

$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'client', password => 'client-pw' });
$t->sim('DELETE', '/_sim/requests');

$r = $t->http('GET', $t->port('pass'), '/api/v1/coSpaces',
              user => 'client', password => 'client-pw');
is($r->{status}, 200, 'cms_credentials pass: the client\'s account works');
my ($seen) = @{ $t->sim_requests('core1') };
is($seen->{headers}{authorization}, basic('client', 'client-pw'),
   'its Authorization reached the bridge unchanged');

$r = $t->http('GET', $t->port('inject'), '/api/v1/coSpaces',
              user => 'client', password => 'client-pw');
is($r->{status}, 502, 'where inject is inherited, the bridge\'s own '
   . 'account (refused now) replaced it: the proxy\'s failure, 502');
like($r->{content}, qr{error="credentialsRejected"},
     '... credentialsRejected, not the client\'s 401');

$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'admin', password => 'secret1' });

# --- max_fails= fail_timeout=: one refused connect takes core1 out

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });
for my $s (qw(fails nofails)) {
    is($t->http('GET', $t->port($s), '/api/v1/system/status')->{status}, 200,
       "$s: core1 refuses, the GET is answered by core2");
}
$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });
$t->sim('DELETE', '/_sim/requests');

for my $s (qw(fails nofails)) {
    $t->http('GET', $t->port($s), "/api/v1/system/status?$s");
}
is(join(' | ', bridge_log('core2')), 'GET /api/v1/system/status?fails',
   'max_fails=1 fail_timeout=60s: core1 is back but not tried, core2 answers');
is(join(' | ', bridge_log('core1')), 'GET /api/v1/system/status?nofails',
   'max_fails=0: core1 is tried again at once');

# --- cms_move_upstream only_core2: the check asks core2, not core1
# (which "cms", the cluster the move goes to, would ask first)

sub setup {
    my ($bridge, $can_move) = @_;
    $t->sim('POST', '/_sim/reset');
    my %cred = (core1 => [qw(admin secret1)], core2 => [qw(admin2 secret2)]);
    my @call;
    for my $b ($bridge, 'core1') {
        my $sp = id_of($t->http('POST', $t->port($b), '/api/v1/coSpaces',
                                body => 'name=S' . @call,
                                user => $cred{$b}[0], password => $cred{$b}[1])
                       ->{headers}{location});
        push @call, id_of($t->http('POST', $t->port($b), '/api/v1/calls',
                                   body => "coSpace=$sp",
                                   user => $cred{$b}[0],
                                   password => $cred{$b}[1])
                          ->{headers}{location});
    }
    my $p = $t->sim('POST', '/_sim/participants',
                    { bridge => $bridge, call => $call[0], name => 'User X',
                      canMove => $can_move ? JSON::PP::true
                                           : JSON::PP::false })->{id};
    $t->sim('DELETE', '/_sim/requests');
    return ($call[1], $p);
}

my $cmm = sub {
    my ($method, $path, $body) = @_;
    return $t->http($method, $t->port('moves'), $path, body => $body,
                    user => 'cmm', password => 'x');
};

my ($target, $pid) = setup('core2', 0);
my $move = cmm_move($cmm, $target, $pid);
is($move->[1]{status}, 400, 'canMove false on core2: refused');
like($move->[1]{content}, qr/<participantCannotBeMoved rule="can-move" \/>/,
     'by the canMove check');
is(scalar(grep { m{^GET /api/v1/participants/} } bridge_log('core1')), 2,
   'core1 saw only the client\'s own two GETs of the participant')
    or diag(explain([bridge_log('core1')]));
is(scalar(grep { $_ eq "GET /api/v1/participants/$pid" } bridge_log('core2')),
   1, 'cms_move_upstream only_core2: the check asked core2');

# --- cms_move_check_timeout 2s: core2 does not answer the check

($target, $pid) = setup('core2', 1);
$t->sim('PUT', '/_sim/bridges/core2/fault',
        { mode => 'hang', path => '^/api/v1/participants/' });
$r = $cmm->('POST', "/api/v1/calls/$target/participants",
            "movedParticipant=$pid&needsActivation=false");
is($r->{status}, 200, 'no answer to the check: the move goes on');
like($t->error_log,
     qr/could not check participant "\Q$pid\E" on bridge "core2" \(status 0, .*2000 ms.*the move goes on unchecked/,
     'cms_move_check_timeout: unchecked after 2 s, logged');
$t->sim('PUT', '/_sim/bridges/core2/fault', { mode => 'none' });

$t->done;
