#!/usr/bin/env perl

# The proxy judges every request exactly as the bridge will act on it
# (issue 11, each hole found by probing the demo as an attacker would):
#
#  1. an empty movedParticipant= is not a move (CMS dials a new
#     participant): a mover cannot dial out with it;
#  2. parameter names are compared without case, as CMS does: a move
#     spelled movedparticipant= is a move (a scheduler cannot move), and
#     a name given twice or in two spellings is refused as ambiguous;
#  3. a look-alike space named like a slot does not take the slot over,
#     and the real slot still refuses a double booking;
#  4. a coSpace listing that is not XML fails the reconciliation cleanly:
#     logged, and shown in the status (valgrind saw a use after free);
#  5. the operator named by an admin action is the one nginx verified,
#     never a name read from a raw Authorization header;
#  6. roles come from the verified user only (satisfy any lets a wrong
#     password in by address: no role for it);
#  7. a bridge rejecting the proxy's own credentials is answered 502 in
#     CMS style, never as the client's 401;
#  8. safe by default: status without addresses unless asked for, the
#     demo protects its status, slots and admin locations and runs Redis
#     with AOF, the audit file and the spool are not world-readable;
#  9. a write answered 200 with a body is not believed (CMS answers every
#     write it carried out with an empty 200): 502, and the slot it would
#     have checked out stays free (issue 18's hour soak: a bridge in a
#     fault "booked" a slot it never changed, and a second meeting got it).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use CmsTest;
use CmsSeed qw(id_of);
use CmsWait qw(wait_for);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

$t->start_sim;

$t->write_file('htpasswd', "tms:{PLAIN}tms-pw\ncmm:{PLAIN}cmm-pw\n"
                         . "ops:{PLAIN}ops-pw\n");

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;

    cms_audit_log %%TESTDIR%%/audit.log;

    cms_slot_reconcile_at_start off;
    cms_slot_bridge_timeout 2s;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    cms_role scheduler tms;
    cms_role mover cmm;
    cms_role admin ops;

    cms_policy_role scheduler *;
    cms_policy_role mover method=GET participant.move;
    cms_policy_role admin *;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        auth_basic "ngx_cms";
        auth_basic_user_file %%TESTDIR%%/htpasswd;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy slots moves audit;
            cms_credentials inject;
            cms_move_roles mover admin;
            proxy_pass http://cms;
            proxy_next_upstream off;
        }

        location = /status {
            cms_status;
        }

        location = /status-detail {
            cms_status detail;
        }

        location = /slots {
            cms_slots_status;
        }
    }

    # an address rule OR a password: a wrong password is let in by the
    # address, and then must not carry the role of the name it claims
    server {
        listen 127.0.0.1:%%PORT_any%%;

        satisfy any;
        allow 127.0.0.1;
        deny all;
        auth_basic "ngx_cms";
        auth_basic_user_file %%TESTDIR%%/htpasswd;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }
    }

    # no authentication at all: whatever Authorization says is unverified
    server {
        listen 127.0.0.1:%%PORT_open%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location /admin/ {
            cms_admin;
        }

        location = /status {
            cms_status detail;
        }

        location = /slots {
            cms_slots_status;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy any open)]);

my $proxy = $t->port('proxy');

sub as {
    my ($user, $method, $path, $body, $port) = @_;
    return $t->http($method, $port // $proxy, $path, body => $body,
                    user => $user, password => "$user-pw");
}

sub direct {
    my ($method, $path, $body) = @_;
    return $t->http($method, $t->port('core1'), $path, body => $body,
                    user => 'admin', password => 'secret1');
}

sub participants {
    my $s = $t->sim('GET', '/_sim/state');
    return map { @{ $s->{bridges}{$_}{participants} } }
           sort keys %{ $s->{bridges} };
}

sub audit {
    return map { $json->decode($_) }
           grep { length } split /\n/, $t->read_file('audit.log');
}

sub call_records {
    my ($path_re) = @_;
    return grep { ($_->{kind} // '') ne 'event'
                  && ($_->{path} // '') =~ $path_re } audit();
}

# the record is written in the log phase, after the answer has gone:
# wait for the one more record the last request made
sub last_call_record {
    my ($path_re, $before) = @_;
    my @r;
    wait_for("an audit record for $path_re",
             sub { @r = call_records($path_re); @r > $before });
    return $r[-1];
}

# two calls and a participant in the first, all on core1
sub setup_calls {
    $t->sim('POST', '/_sim/reset');
    my @call;
    for my $n (1, 2) {
        my $space = id_of(direct(POST => '/api/v1/coSpaces', "name=Space $n")
                          ->{headers}{location});
        push @call, id_of(direct(POST => '/api/v1/calls', "coSpace=$space")
                          ->{headers}{location});
    }
    my $p = $t->sim('POST', '/_sim/participants',
                    { bridge => 'core1', call => $call[0],
                      name => 'User X' })->{id};
    return (@call, $p);
}

# --- 1. an empty movedParticipant= is a dial-out, not a move

my ($call1, $call2, $pid) = setup_calls();
my $before = scalar participants();
my $nrec = () = call_records(qr{/participants$});

my $r = as(cmm => POST => "/api/v1/calls/$call2/participants",
           'movedParticipant=&remoteParty=sip:evil@attacker.example');
is($r->{status}, 403, 'a mover with an empty movedParticipant=: 403');
is(scalar participants(), $before, 'nobody was dialled');
my $rec = last_call_record(qr{/participants$}, $nrec++);
is($rec->{operation}, 'participant.create',
   'the audit names what the bridge would have done: participant.create');

# --- 2. names without case, as the bridge reads them

$r = as(tms => POST => "/api/v1/calls/$call2/participants",
        "movedparticipant=$pid");
is($r->{status}, 403, 'a scheduler moving with movedparticipant=: 403');
ok((grep { $_->{id} eq $pid } participants()), 'the participant stayed');
$rec = last_call_record(qr{/participants$}, $nrec++);
is($rec->{operation}, 'participant.move', 'audited as the move it is');

$r = as(cmm => POST => "/api/v1/calls/$call2/participants",
        "MOVEDPARTICIPANT=$pid");
is($r->{status}, 200, 'the mover\'s move in upper case: 200');
ok(!(grep { $_->{id} eq $pid } participants()), 'and it was moved');

($call1, $call2, $pid) = setup_calls();
$t->sim('DELETE', '/_sim/requests');

for my $body ("movedParticipant=$pid&movedparticipant=$pid",
              "movedParticipant=&movedParticipant=$pid",
              "remoteParty=sip:a\@x&RemoteParty=sip:b\@y") {
    $r = as(tms => POST => "/api/v1/calls/$call2/participants", $body);
    is($r->{status}, 400, "given twice ($body): 400");
    like($r->{content}, qr{<failureDetails><parameterError [^>]*error="ambiguous"},
         '... as an ambiguous parameter, CMS style');
}
is(scalar @{ $t->sim_requests }, 0, 'none of them reached the bridge');

# --- 3. a look-alike space does not take a slot over

$t->sim('POST', '/_sim/reset');

my $set = id_of(as(tms => POST => '/api/v1/cospaceBulkParameterSets',
    'startIndex=1&endIndex=3&coSpaceUriMapping=slot.$index$'
    . '&coSpaceNameMapping=TMS_Scheduled_Meeting_$index$'
    . '&nonMemberAccess=false')->{headers}{location});
my $sync = id_of(as(tms => POST => '/api/v1/cospaceBulkSyncs',
                    "cospaceBulkParameterSet=$set")->{headers}{location});
as(tms => GET => "/api/v1/cospaceBulkSyncs/$sync");

sub slots_status {
    my $s = $json->decode(as(ops => GET => '/slots')->{content});
    my ($pool) = grep { $_->{active} } @{ $s->{pools} };
    return ($s, $pool);
}

my $list = as(tms => GET => '/api/v1/coSpaces?filter=TMS_Scheduled');
my %real = reverse($list->{content}
    =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_(\d+)</g);
is(scalar keys %real, 3, 'the pool\'s three spaces');
my (undef, $pool) = slots_status();
is($pool->{slots}[1]{space}, $real{2}, 'slot 2 is the synced space');

my $fake = id_of(as(tms => POST => '/api/v1/coSpaces',
                    'name=TMS_Scheduled_Meeting_2&uri=fake.slot.2')
                 ->{headers}{location});
as(tms => GET => '/api/v1/coSpaces?filter=TMS_Scheduled');
my $s;
($s, $pool) = slots_status();
is($pool->{slots}[1]{space}, $real{2},
   'after a look-alike was listed, slot 2 is still the synced space');
ok(($s->{counters}{lookalikes} // 0) >= 1, 'the status counts the look-alike')
    or diag(explain($s));
like($t->error_log, qr/space \Q$fake\E is named like slot "TMS_Scheduled_Meeting_2"/,
     'the error log names the look-alike');
ok((grep { ($_->{detail}{action} // '') eq 'lookalike' }
    grep { ($_->{kind} // '') eq 'event' } audit()),
   'and a slot event reports it');

$r = as(tms => PUT => "/api/v1/cospaces/$real{2}",
        '&nonMemberAccess=true&name=Meeting C&secret=sc');
is($r->{status}, 200, 'booking the real slot 2: 200');
$r = as(tms => PUT => "/api/v1/cospaces/$real{2}",
        '&nonMemberAccess=true&name=Meeting D&secret=sd');
is($r->{status}, 400, 'a second meeting on it: 400');
like($r->{content}, qr{<slotInUse rule="double-booking" />}, '... slotInUse');

# --- 4. a listing that is not XML: reconciliation fails cleanly

$t->sim('PUT', '/_sim/bridges/core1/fault',
        { mode => 'garbage', path => 'coSpaces' });
$r = $t->http('POST', $t->port('open'), '/slots?reconcile');
$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });
is($r->{status}, 502, 'reconcile against a garbage listing: 502');
like($r->{content}, qr/not XML/, '... saying the listing was not XML');
my $st = $json->decode($t->http('GET', $t->port('open'), '/slots')
                       ->{content});
like($st->{reconciliation}{error} // '', qr/not XML/,
     'the status shows the reconciliation error');
like($t->error_log, qr/reconciliation failed: .*not XML/,
     'and the error log says so');
$r = $t->http('POST', $t->port('open'), '/slots?reconcile');
is($r->{status}, 200, 'the next reconcile works again');

# --- 5. operator names only from a verified source

my $evil = "ev\"il\n2026/01/01 [emerg] forged \e[31mline";
$r = $t->http('POST', $t->port('open'), '/admin/failover?to=core2',
              headers => { Authorization => 'Basic '
                           . encode_base64("$evil:x", '') });
is($r->{status}, 200, 'an admin action on an open location');
$st = $json->decode($t->http('GET', $t->port('open'), '/status')
                    ->{content});
my $last = $st->{upstreams}[0];
unlike($last->{by} // '', qr/ev/, 'the unverified name is not the operator');
like($last->{by} // '', qr/^admin\@127\.0\.0\.1$/,
     'the operator is the address');
unlike($t->error_log, qr/^2026\/01\/01 \[emerg\] forged/m,
       'no forged line in the error log');
unlike($t->error_log, qr/\e/, 'no escape byte in the error log');
$t->http('POST', $t->port('open'), '/admin/failback');

# --- 6. roles only from the verified user

($call1, $call2, $pid) = setup_calls();
my $space = id_of(direct(POST => '/api/v1/coSpaces', 'name=Victim')
                  ->{headers}{location});
$r = $t->http('DELETE', $t->port('any'), "/api/v1/coSpaces/$space",
              user => 'tms', password => 'WRONG');
is($r->{status}, 403, 'a wrong password let in by address: no role, 403');
$r = $t->http('DELETE', $t->port('open'), "/api/v1/coSpaces/$space",
              user => 'tms', password => 'whatever');
is($r->{status}, 403, 'an unverified name on an open location: 403');
# under "satisfy any" the address rule lets the client in without nginx
# checking any password: nothing is verified, so there is no role either
$r = $t->http('DELETE', $t->port('any'), "/api/v1/coSpaces/$space",
              user => 'tms', password => 'tms-pw');
is($r->{status}, 403, 'satisfy any, let in by address: no role even with '
                      . 'the right password');
$r = as(tms => DELETE => "/api/v1/coSpaces/$space");
is($r->{status}, 200, 'the verified user (satisfy all): the role, 200');

# --- 7. the bridge rejecting the proxy's credentials is not a client 401

$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'admin', password => 'rotated' });
$nrec = () = call_records(qr{^/api/v1/coSpaces$});
$r = as(tms => POST => '/api/v1/coSpaces', 'name=Rejected');
$t->sim('PUT', '/_sim/bridges/core1/credentials',
        { user => 'admin', password => 'secret1' });
is($r->{status}, 502, 'bridge says 401 to the proxy: the client gets 502');
ok(!defined $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate');
like($r->{content}, qr{<failureDetails><callBridgeUnavailable error="credentialsRejected" />},
     'CMS-style failureDetails');
like($r->{headers}{'x-cms-proxy-reason'} // '', qr/rejected the proxy's credentials/,
     'the reason header says whose credentials');
$rec = last_call_record(qr{^/api/v1/coSpaces$}, $nrec);
is($rec->{status}, 502, 'audit: 502');
is($rec->{bridge_status}, 401, 'audit: the bridge\'s 401');
like($rec->{reason} // '', qr/credentials/, 'audit: the reason');

# --- 9. a write answered 200 with a body is not the bridge's yes

$t->sim('POST', '/_sim/reset');
$set = id_of(as(tms => POST => '/api/v1/cospaceBulkParameterSets',
    'startIndex=1&endIndex=3&coSpaceUriMapping=room.$index$'
    . '&coSpaceNameMapping=Room_$index$'
    . '&nonMemberAccess=false')->{headers}{location});
$sync = id_of(as(tms => POST => '/api/v1/cospaceBulkSyncs',
                 "cospaceBulkParameterSet=$set")->{headers}{location});
as(tms => GET => "/api/v1/cospaceBulkSyncs/$sync");
$list = as(tms => GET => '/api/v1/coSpaces?filter=Room_');
%real = reverse($list->{content} =~ /<coSpace id="([^"]+)"><name>Room_(\d+)</g);
sub new_pool {
    my $s = $json->decode(as(ops => GET => '/slots')->{content});
    my ($pool) = grep { $_->{id} eq $set } @{ $s->{pools} };
    return $pool;
}
is(new_pool()->{slots}[0]{space}, $real{1}, 'the new pool: slot 1 is known');

$t->sim('PUT', '/_sim/bridges/core1/fault',
        { mode => 'hostile', kind => 'doctype', path => '(?i)cospaces' });
$nrec = () = call_records(qr{^/api/v1/cospaces/});
$r = as(tms => PUT => "/api/v1/cospaces/$real{1}",
        '&nonMemberAccess=true&name=Meeting E&secret=se');
my $created = as(tms => POST => '/api/v1/coSpaces', 'name=Lied About');
$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

is($r->{status}, 502, 'an opening answered 200 with a body: 502');
like($r->{content},
     qr{<failureDetails><callBridgeUnavailable error="bridgeAnswerInvalid" />},
     '... bridgeAnswerInvalid, in CMS style');
like($r->{headers}{'x-cms-proxy-reason'} // '', qr/a write with a body/,
     '... and the reason says why');
unlike($r->{content}, qr/DOCTYPE/, '... nothing of the bridge\'s body');
is($created->{status}, 502, 'a creation answered 200 with a body: 502');
ok(!defined $created->{headers}{location}, '... and no Location');

$rec = last_call_record(qr{^/api/v1/cospaces/}, $nrec);
is($rec->{status}, 502, 'audit: 502');
is($rec->{bridge_status}, 200, 'audit: the bridge\'s 200');
is(new_pool()->{slots}[0]{state}, 'free', 'slot 1 was not checked out');
like($t->error_log, qr/"core1" answered \S+ with 200 and a body of \d+ bytes/,
     'the error log names the bridge\'s answer');

$r = as(tms => PUT => "/api/v1/cospaces/$real{1}",
        '&nonMemberAccess=true&name=Meeting F&secret=sf');
is($r->{status}, 200, 'the bridge well again: the opening is 200');
is(new_pool()->{slots}[0]{state}, 'in_use', '... and slot 1 is in use');
$r = as(tms => PUT => "/api/v1/cospaces/$real{1}",
        '&nonMemberAccess=false&passcode=&name=Room_1'
        . '&regenerateSecret=true');
is($r->{status}, 200, 'an empty 200 to a write is still a 200');

# --- 8. safe by default

$st = $json->decode(as(ops => GET => '/status')->{content});
my $text = as(ops => GET => '/status')->{content};
unlike($text, qr/127\.0\.0\.1:\d+/, 'plain cms_status: no addresses');
unlike($text, qr/"pid"/, '... no pids');
like(as(ops => GET => '/status-detail')->{content}, qr/127\.0\.0\.1:\d+/,
     'cms_status detail: addresses');

my $mode = (stat "$t->{dir}/audit.log")[2] & 07777;
is(sprintf('%04o', $mode & 0007), '0000',
   sprintf('the audit file is not world-readable (%04o)', $mode));

open my $dc, '<', "$CmsTest::ROOT/conf/demo.conf" or die $!;
my $demo = do { local $/; <$dc> };
close $dc;
for my $d (qw(cms_status cms_slots_status cms_admin)) {
    my ($block) = $demo =~ /(location[^{]*\{[^}]*\b$d\b[^}]*\})/;
    ok($block, "the demo has a $d location");
    like($block // '', qr/auth_basic_user_file/, "... protected by a password");
}

open my $rd, '<', "$CmsTest::ROOT/t/run-demo" or die $!;
my $run = do { local $/; <$rd> };
close $rd;
like($run, qr/'--appendonly',\s*'yes'/, 'the demo\'s Redis runs with AOF');
like($run, qr/'--appendfsync',\s*'everysec'/, '... fsync every second');

$t->done;
