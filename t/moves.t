#!/usr/bin/env perl

# The moves plugin: CMM's participant move of seed 004 through the proxy
# works and is audited (old participant, target call, new participant);
# a role without the right is refused before the bridge sees anything;
# with cms_move_check_can_move a participant CMS says cannot be moved is
# refused with a clear failureDetails, the participant left where it was;
# the check finds a participant that lives on another bridge.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use CmsTest;
use CmsSeed qw(cmm_move id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

my $AUDIT = -f "$CmsTest::ROOT/plugins/audit/config.module";
my $audit_conf = $AUDIT ? 'cms_audit_log %%TESTDIR%%/audit.log;' : '';
my $plugins = $AUDIT ? 'audit moves' : 'moves';

$t->start_sim;

# roles come from users nginx verified (auth_basic), never from the header
$t->write_file('htpasswd', join '', map { "$_:{PLAIN}x\n" } qw(cmm tms));

$t->write_conf(<<"EOF");
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;
    $audit_conf

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    cms_role mover cmm;
    cms_role scheduler tms;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins $plugins;
            cms_credentials inject;
            cms_move_roles mover admin;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_checked%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins $plugins;
            cms_credentials inject;
            cms_move_roles mover;
            cms_move_check_can_move on;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy'), $t->port('checked')]);

# The client's requests carry a header of their own: in the simulator's
# log, a request without it is one the proxy made itself.
sub client {
    my ($port, $user) = @_;
    return sub {
        my ($method, $path, $body) = @_;
        return $t->http($method, $port, $path, body => $body,
                        user => $user, password => 'x',
                        headers => { 'X-Test-Client' => $user });
    };
}

# Who sent what to the bridges, in arrival order: "client GET /api/v1/..."
# or "proxy GET /api/v1/...".
sub trail {
    return map { ($_->{headers}{'x-test-client'} ? 'client' : 'proxy')
                 . " $_->{method} $_->{path}" }
           grep { $_->{path} =~ m{/participants} } @{ $t->sim_requests };
}

sub direct {
    my ($bridge, $method, $path, $body) = @_;
    my %cred = (core1 => ['admin', 'secret1'], core2 => ['admin2', 'secret2']);
    return $t->http($method, $t->port($bridge), $path, body => $body,
                    user => $cred{$bridge}[0], password => $cred{$bridge}[1]);
}

# two calls on a bridge and a web app guest in the first (seed 004)
sub setup {
    my ($bridge_p, $bridge_t) = @_;
    $t->sim('POST', '/_sim/reset');
    my @call;
    for my $b ($bridge_p, $bridge_t) {
        my $space = id_of(direct($b, POST => '/api/v1/coSpaces',
                                 'name=Space ' . (@call + 1))
                          ->{headers}{location});
        push @call, id_of(direct($b, POST => '/api/v1/calls',
                                 "coSpace=$space")->{headers}{location});
    }
    my $p = $t->sim('POST', '/_sim/participants',
                    { bridge => $bridge_p, call => $call[0],
                      name => 'User X' })->{id};
    return ($call[0], $call[1], $p);
}

sub participants {
    my $s = $t->sim('GET', '/_sim/state');
    return map { @{ $s->{bridges}{$_}{participants} } }
           sort keys %{ $s->{bridges} };
}

sub events {
    return () unless $AUDIT;
    return grep { ($_->{kind} // '') eq 'event' && $_->{type} eq 'move' }
           map { $json->decode($_) }
           split /\n/, $t->read_file('audit.log');
}

# --- 1. seed 004's move, by a mover

my ($call1, $call2, $pid) = setup('core1', 'core1');

my $move = cmm_move(client($t->port('proxy'), 'cmm'), $call2, $pid);

is($move->[1]{status}, 200, 'the move is answered 200');
my $new = id_of($move->[1]{location});
like($move->[1]{location}, qr{^/api/v1/participants/[0-9a-f-]{36}$},
     'with the new participant\'s Location');
isnt($new, $pid, 'a new participant id');
is($move->[3]{status}, 404, 'the old participant is gone');
my ($moved) = grep { $_->{id} eq $new } participants();
is($moved->{call}, $call2, 'the new one is in the target call');

SKIP: {
    skip 'no audit plugin in this build', 8 unless $AUDIT;

    my ($ev) = events();
    is($ev->{detail}{outcome}, 'moved', 'audit event: moved');
    is($ev->{detail}{participant}, $pid, 'the old participant');
    is($ev->{detail}{call}, $call2, 'the target call');
    is($ev->{detail}{new_participant}, $new, 'the new participant');
    is($ev->{detail}{user}, 'cmm', 'who');
    is($ev->{detail}{role}, 'mover', 'in which role');

    my ($rec) = grep { ($_->{operation} // '') eq 'participant.move' }
                map { $json->decode($_) }
                split /\n/, $t->read_file('audit.log');
    is($rec->{params}{movedParticipant}, $pid,
       'the call record carries the old participant');
    is($rec->{location_id}, $new, 'and the new one');
}

# --- 2. a role without the right

($call1, $call2, $pid) = setup('core1', 'core1');
$t->sim('DELETE', '/_sim/requests');

$move = cmm_move(client($t->port('proxy'), 'tms'), $call2, $pid);

is($move->[1]{status}, 403, 'a scheduler may not move: 403');
is($move->[1]{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
   . qq{<participantCannotBeMoved rule="move-roles" /></failureDetails>},
   'CMS-style failureDetails');
ok(!grep({ $_->{method} eq 'POST' } @{ $t->sim_requests }),
   'the bridge never saw the move');
is($move->[-1]{status}, 200, 'the participant is still there');
like(client($t->port('proxy'), 'tms')->('POST',
         "/api/v1/calls/$call2/participants", "movedParticipant=$pid")
     ->{headers}{'x-cms-proxy-reason'}, qr/role "scheduler"/,
     'the reason header names the role');

SKIP: {
    skip 'no audit plugin in this build', 2 unless $AUDIT;
    my @ev = events();
    is($ev[-1]{detail}{outcome}, 'denied', 'audit event: denied');
    is($ev[-1]{detail}{user}, 'tms', 'naming who tried');
}

# --- 3. canMove false, checked first

($call1, $call2, $pid) = setup('core1', 'core1');
$t->sim('PUT', "/_sim/participants/$pid", { canMove => JSON::PP::false });
$t->sim('DELETE', '/_sim/requests');

$move = cmm_move(client($t->port('checked'), 'cmm'), $call2, $pid);

is($move->[1]{status}, 400, 'canMove false: refused with 400');
like($move->[1]{content},
     qr{<failureDetails><participantCannotBeMoved rule="can-move" /></failureDetails>},
     'participantCannotBeMoved, rule can-move');
my @seen = @{ $t->sim_requests };
is_deeply([trail()], [
    "client GET /api/v1/participants/$pid",
    "proxy GET /api/v1/participants/$pid",
    "client GET /api/v1/participants/$pid",
], 'the proxy asked CMS about the participant, and sent no move')
    or diag(explain([trail()]));
ok(!grep({ $_->{method} eq 'POST' } @seen), 'the move itself never sent');
is($move->[-1]{status}, 200, 'the participant stays in its call');

SKIP: {
    skip 'no audit plugin in this build', 1 unless $AUDIT;
    is((events())[-1]{detail}{outcome}, 'refused_can_move',
       'audit event: refused_can_move');
}

# canMove true: the checked move goes through

$t->sim('PUT', "/_sim/participants/$pid", { canMove => JSON::PP::true });
$t->sim('DELETE', '/_sim/requests');
$move = cmm_move(client($t->port('checked'), 'cmm'), $call2, $pid);
is($move->[1]{status}, 200, 'canMove true: moved');
is_deeply([trail()], [
    "client GET /api/v1/participants/$pid",
    "proxy GET /api/v1/participants/$pid",
    "client POST /api/v1/calls/$call2/participants",
    'client GET /api/v1/participants/' . id_of($move->[1]{location}),
    "client GET /api/v1/participants/$pid",
], 'CMS was asked about the participant before the move was sent')
    or diag(explain([trail()]));

# --- 4. the participant lives on another bridge than the one asked first

($call1, $call2, $pid) = setup('core2', 'core1');
$t->sim('DELETE', '/_sim/requests');

$move = cmm_move(client($t->port('checked'), 'cmm'), $call2, $pid);
is($move->[1]{status}, 200, 'a participant of core2 moved into core1\'s call');
ok(grep({ $_->{bridge} eq 'core2' && $_->{method} eq 'GET'
          && $_->{path} eq "/api/v1/participants/$pid" }
        @{ $t->sim_requests }),
   'the check found it on core2 after core1 did not know it');
($moved) = grep { $_->{id} eq id_of($move->[1]{location}) } participants();
is($moved->{call}, $call2, 'it is in the target call');

SKIP: {
    skip 'no audit plugin in this build', 1 unless $AUDIT;
    is((events())[-1]{detail}{checked_on}, 'core2', 'checked on core2');
}

$t->done;
