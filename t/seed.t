#!/usr/bin/env perl

# Seed replay: the TMS session of seed 000 and the CMM move of seed 004,
# sent through the proxy, give the same statuses, Locations and bodies as
# sent straight to the simulator, and the simulator receives the same
# requests.  Credentials pass through untouched (transparent mode): the
# client's are not the ones the upstream declares for the bridge, and
# the simulator accepts only the client's.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use MIME::Base64 ();
use CmsTest;
use CmsSeed qw(tms_session cmm_move normalize id_of);

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;
    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

# The client's own API account, which the simulator is told to accept
# after every reset; cms_bridge names another (admin/secret1), which the
# bridge would refuse: a proxy that injected it would get 401s.
my ($USER, $PASS) = ('tms-client', 'client-pw');
my $AUTH = 'Basic ' . MIME::Base64::encode_base64("$USER:$PASS", '');

sub reset_sim {
    $t->sim('POST', '/_sim/reset');
    $t->sim('PUT', '/_sim/bridges/core1/credentials',
            { user => $USER, password => $PASS });
    $t->sim('DELETE', '/_sim/requests');
}

sub client {
    my ($port) = @_;
    return sub {
        my ($method, $path, $body) = @_;
        return $t->http($method, $port, $path, body => $body,
                        user => $USER, password => $PASS);
    };
}

sub requests_seen {
    return [ map { { method => $_->{method}, path => $_->{path},
                     body => $_->{body},
                     authorization => $_->{headers}{authorization} } }
             @{ $t->sim_requests('core1') } ];
}

# --- TMS session, straight to core1, then through the proxy

reset_sim();
my $direct = tms_session(client($t->port('core1')));
my $direct_seen = requests_seen();

reset_sim();
my $proxied = tms_session(client($t->port('proxy')));
my $proxied_seen = requests_seen();

is(scalar @$direct, 27, 'the TMS session has all its 27 API calls');
is_deeply(normalize($proxied), normalize($direct),
          'TMS session: same statuses, Locations, types and bodies');
is_deeply(normalize($proxied_seen), normalize($direct_seen),
          'TMS session: the bridge received the same requests');

ok(!grep({ $_->{status} != 200 } @$proxied), 'every TMS step answered 200')
    or diag(explain([grep { $_->{status} != 200 } @$proxied]));
is_deeply([map { $_->{authorization} } @$proxied_seen],
          [($AUTH) x @$proxied_seen],
          'credentials pass through untouched: every request carried the '
          . 'client\'s, not those cms_bridge names');

my ($end) = grep { $_->{request} =~ /regenerateSecret/ } @$proxied;
ok($end, 'the end-of-meeting PUT was sent');

my ($leg) = grep { $_->{request} =~ m{/calllegs remoteParty} } @$proxied;
like($leg->{location}, qr{^/api/v1/callLegs/[0-9a-f-]{36}$},
     'call leg Location in canonical case, passed through');

# the request bodies reach the bridge byte for byte

my ($put) = grep { $_->{method} eq 'PUT' } @$proxied_seen;
is($put->{body}, '&nonMemberAccess=true&passcode='
   . '&name=Tim Kratzke Acano TMSXE Test Meeting'
   . '&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a',
   'PUT body byte-identical at the bridge');

# the access log knows what each call meant (classification variables)

# --- the 401 challenge: a client without credentials

my $r = $t->http('GET', $t->port('proxy'), '/api/v1/coSpaces');
is($r->{status}, 401, 'no credentials: 401 from the bridge');
is($r->{headers}{'www-authenticate'}, 'Basic realm="acano"',
   'the bridge\'s challenge passes through');

# --- CMM move of seed 004: a participant of a call on core1 moved into
# another call on core1 (the primary, where the proxy sends it), straight
# to the simulator, then through the proxy

sub direct {
    my ($path, $body) = @_;
    return id_of($t->http('POST', $t->port('core1'), $path, body => $body,
                          user => $USER, password => $PASS)
                 ->{headers}{location});
}

sub setup_move {
    reset_sim();
    my $space = direct('/api/v1/coSpaces', 'name=Space 1');
    my $space2 = direct('/api/v1/coSpaces', 'name=Space 2');
    my $call1 = direct('/api/v1/calls', "coSpace=$space");
    my $pid = $t->sim('POST', '/_sim/participants',
        { bridge => 'core1', call => $call1, name => 'User X', uri => 'guest4242',
          canMove => JSON::PP::true })->{id};
    my $call2 = direct('/api/v1/calls', "coSpace=$space2");
    $t->sim('DELETE', '/_sim/requests');
    return ($call2, $pid);
}

my ($call2, $pid) = setup_move();
my $move_direct = cmm_move(client($t->port('core1')), $call2, $pid);
my $move_direct_seen = requests_seen();

($call2, $pid) = setup_move();
my $move = cmm_move(client($t->port('proxy')), $call2, $pid);
my $move_seen = requests_seen();

is(scalar @$move_direct, 4, 'the CMM move has its 4 API calls');
is_deeply(normalize($move), normalize($move_direct),
          'CMM move: same statuses, Locations, types and bodies');
is_deeply(normalize($move_seen), normalize($move_direct_seen),
          'CMM move: the bridge received the same requests');

is($move->[1]{status}, 200, 'move answered 200');
like($move->[1]{location}, qr{^/api/v1/participants/[0-9a-f-]{36}$},
     'move gives the new participant\'s Location');
isnt(id_of($move->[1]{location}), $pid, 'moved participant has a new id');
is($move->[2]{status}, 200, 'new participant exists');
like($move->[2]{content}, qr{<movedParticipant>\Q$pid\E</movedParticipant>},
     'new participant names the old one');
is($move->[3]{status}, 404, 'old participant is gone');

my ($seen) = grep { $_->{method} eq 'POST' && $_->{path} =~ /participants/ }
             @$move_seen;
is($seen->{body}, "movedParticipant=$pid&needsActivation=false",
   'move body byte-identical at the bridge');
is($seen->{authorization}, $AUTH, 'with the client\'s credentials');

$t->done;
