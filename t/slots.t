#!/usr/bin/env perl

# The slots plugin on one nginx, without Redis: the TMS session of seed
# 000 leaves the slot free with the whole story audited; two concurrent
# meetings take slots 1 and 2; a double booking and a meeting over
# cms_slot_max_meetings are refused in CMS style; a stuck slot (no call,
# or a check-in the bridge did not take) is flagged and force-released;
# the table survives a reload; a new bulk sync that recreates the spaces
# is followed; reconciliation corrects what changed behind the proxy.
# The simulator's /_sim/state is the ground truth every check compares
# with.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use JSON::PP;
use CmsTest;
use CmsSeed qw(tms_session id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

my $AUDIT = -f "$CmsTest::ROOT/plugins/audit/config.module";

$t->start_sim;

# who checked out or released a slot: users nginx verified (auth_basic)
$t->write_file('htpasswd', join '', map { "$_:{PLAIN}x\n" } qw(tms ops));

my $audit_conf = $AUDIT ? "cms_audit_log %%TESTDIR%%/audit.log;" : '';
my $plugins = $AUDIT ? 'audit slots' : 'slots';

$t->write_conf(<<"EOF");
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;
    $audit_conf

    cms_slot_max_meetings 4;
    cms_slot_warn_utilization 60;
    cms_slot_stuck_after 2s;
    cms_slot_check_interval 500ms;
    cms_slot_reconcile_at_start off;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins $plugins;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_next_upstream off;
        }

        location = /slots {
            auth_basic "ops";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_slots_status;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy')]);

my $proxy = $t->port('proxy');
my $MEETING = 'Tim Kratzke Acano TMSXE Test Meeting';
my $SECRET = '86db1bdd-5cf7-4ea8-b88d-479195f4701a';

sub api {
    my ($method, $path, $body) = @_;
    return $t->http($method, $proxy, $path, body => $body,
                    user => 'tms', password => 'x');
}

sub status {
    my $r = $t->http('GET', $proxy, '/slots', user => 'ops',
                     password => 'x');
    die "status: $r->{status} $r->{content}" unless $r->{status} == 200;
    return $json->decode($r->{content});
}

sub admin {
    my ($args) = @_;
    my $r = $t->http('POST', $proxy, "/slots?$args", user => 'ops',
                     password => 'x');
    return ($r->{status}, $r->{content} ? $json->decode($r->{content}) : {});
}

sub pool { (grep { $_->{active} } @{ status()->{pools} })[0] }

sub slot {
    my ($index) = @_;
    return (grep { $_->{index} == $index } @{ pool()->{slots} })[0];
}

# the simulator's truth: the slot spaces and what CMS has in them
sub sim_space {
    my ($id) = @_;
    return (grep { $_->{id} eq $id } @{ $t->sim('GET', '/_sim/state')
                                        ->{coSpaces} })[0];
}

sub events {
    my ($action) = @_;
    return () unless $AUDIT;
    return grep { $_->{type} eq 'slot'
                  && (!defined $action || $_->{detail}{action} eq $action) }
           map { $json->decode($_) }
           grep { /"kind":"event"/ } split /\n/, $t->read_file('audit.log');
}

sub wait_for {
    my ($what, $cond) = @_;
    for (1 .. 100) {
        return 1 if $cond->();
        sleep 0.1;
    }
    fail("timed out waiting for $what");
    return 0;
}

# TMS's own way: the lowest slot whose space has its placeholder name
sub lowest_free {
    my $r = api(GET => '/api/v1/coSpaces?filter=TMS_Scheduled_Meeting_');
    my %free = reverse($r->{content}
        =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_(\d+)</g);
    my ($i) = sort { $a <=> $b } keys %free;
    return defined $i ? ($i, $free{$i}) : ();
}

sub open_body {
    my ($name, $secret) = @_;
    return "&nonMemberAccess=true&passcode=&name=$name&secret=$secret";
}

sub close_body {
    my ($index) = @_;
    return '&nonMemberAccess=false&passcode='
         . "&name=TMS_Scheduled_Meeting_$index&regenerateSecret=true";
}

# --- 1. the TMS session of seed 000: the story of slot 1

$t->sim('POST', '/_sim/reset');

my $mid;
my $tms = tms_session(sub { api(@_) }, between => sub { $mid = status() });

is(scalar(grep { $_->{status} == 200 } @$tms), 27,
   'TMS session through the slots plugin: 27 calls, all 200');

my ($space1) = map { m{/cospaces/([^/ ]+)} } grep { /^PUT / }
               map { $_->{request} } @$tms;
my ($call1) = map { id_of($_->{location}) }
              grep { $_->{request} =~ m{^POST /api/v1/calls } } @$tms;

my ($mid_pool) = grep { $_->{active} } @{ $mid->{pools} };
my $mid1 = $mid_pool->{slots}[0];

is($mid_pool->{id}, id_of((grep { $_->{request} =~ /BulkParameterSets/ }
                           @$tms)[0]{location}),
   'the pool is the bulk parameter set, learned from its Location');
is_deeply([$mid_pool->{start}, $mid_pool->{end}, $mid_pool->{prefix}],
          [1, 5, 'TMS_Scheduled_Meeting_'], 'its range and names');
is($mid1->{space}, $space1, 'slot 1 is the space TMS opened');
is($mid1->{state}, 'in_use', 'mid-meeting: slot 1 in use');
is($mid1->{meeting}, $MEETING, 'by the meeting');
is($mid1->{user}, 'tms', 'checked out by the API user');
is($mid1->{call}, $call1, 'the call is linked from its Location');
is($mid_pool->{in_use}, 1, 'one slot in use');
ok(!grep({ $_->{state} ne 'free' } @{ $mid_pool->{slots} }[1 .. 4]),
   'the others free');

my $end = pool();
is($end->{slots}[0]{state}, 'free', 'after the session: slot 1 is free');
is($end->{in_use}, 0, 'nothing in use');
unlike($t->read_file('error.log'), qr/\Q$SECRET\E/,
       'the secret is nowhere in the error log');

SKIP: {
    skip 'no audit plugin in this build', 4 unless $AUDIT;

    my @story = map { $_->{detail}{action} }
                grep { ($_->{subject} // '') eq 'TMS_Scheduled_Meeting_1' }
                events();
    is_deeply(\@story, [qw(checkout call extend checkin call_end)],
              'the audit tells the whole story of slot 1');

    my ($co) = events('checkout');
    is($co->{detail}{meeting}, $MEETING, 'checkout: the meeting');
    is($co->{detail}{user}, 'tms', 'checkout: who');
    unlike($t->read_file('audit.log'), qr/\Q$SECRET\E/,
           'the secret is nowhere in the audit log');
}

# the spaces of the pool, as they are now (all placeholders)

my %space;
{
    my $r = api(GET => '/api/v1/coSpaces?filter=TMS_Scheduled_Meeting_');
    my %by_name = reverse($r->{content}
        =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_(\d+)</g);
    %space = %by_name;
}
is(scalar keys %space, 5, 'five slot spaces listed');

# --- 2. two concurrent meetings take slots 1 and 2

my ($ia, $sa) = lowest_free();
is($ia, 1, 'TMS picks slot 1 for meeting A');
is(api(PUT => "/api/v1/cospaces/$sa", open_body('Meeting A', 'sa'))
   ->{status}, 200, 'meeting A checks it out');
my $call_a = id_of(api(POST => '/api/v1/calls', "coSpace=$sa")
                   ->{headers}{location});

my ($ib, $sb) = lowest_free();
is($ib, 2, 'TMS picks slot 2 for meeting B');
is(api(PUT => "/api/v1/cospaces/$sb", open_body('Meeting B', 'sb'))
   ->{status}, 200, 'meeting B checks it out');
my $call_b = id_of(api(POST => '/api/v1/calls', "coSpace=$sb")
                   ->{headers}{location});

is_deeply([map { [$_->{state}, $_->{meeting} // ''] } map { slot($_) } 1, 2],
          [['in_use', 'Meeting A'], ['in_use', 'Meeting B']],
          'slots 1 and 2 hold A and B');
is(slot(1)->{call}, $call_a, 'A\'s call on slot 1');
is(slot(2)->{call}, $call_b, 'B\'s call on slot 2');

# --- 3. a double booking is refused before it reaches CMS

$t->sim('DELETE', '/_sim/requests');

my $r = api(PUT => "/api/v1/cospaces/$sa", open_body('Meeting C', 'sc'));
is($r->{status}, 400, 'double booking of slot 1: 400');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
   . qq{<slotInUse rule="double-booking" /></failureDetails>},
   'CMS-style failureDetails, element slotInUse');
like($r->{headers}{'x-cms-proxy-reason'}, qr/holds meeting "Meeting A"/,
     'the reason names the holder');
is(scalar @{ $t->sim_requests }, 0, 'the bridge never saw it');
is(sim_space($sa)->{name}, 'Meeting A', 'CMS still has meeting A there');

# the same double booking dressed up: a repeated flag, another case

$r = api(PUT => "/api/v1/cospaces/$sa",
         '&nonMemberAccess=false&nonMemberAccess=true&name=Meeting C&secret=sc');
is($r->{status}, 400, 'repeated nonMemberAccess on a slot: 400');
like($r->{content},
     qr{<parameterError parameter="nonMemberAccess" error="ambiguous" />},
     'refused as ambiguous');
$r = api(PUT => "/api/v1/cospaces/$sa",
         '&NonMemberAccess=true&name=Meeting C&secret=sc');
like($r->{content}, qr{rule="double-booking"},
     'a flag in another case is read as the bridge reads it: a double booking');
$r = api(PUT => "/api/v1/cospaces/$sa",
         '&nonMemberAccess=TRUE&name=Meeting C&secret=sc');
like($r->{content}, qr{rule="double-booking"},
     'nonMemberAccess=TRUE is a check-out, refused as a double booking');
is(scalar @{ $t->sim_requests }, 0, 'none of them reached the bridge');

# the holder itself may extend, with or without its secret

is(api(PUT => "/api/v1/cospaces/$sa", open_body('Meeting A', 'sa'))
   ->{status}, 200, 'A extends: same PUT again');
is(api(PUT => "/api/v1/cospaces/$sa",
       '&nonMemberAccess=true&name=Meeting A')->{status}, 200,
   'A extends without its secret');
is(api(PUT => "/api/v1/cospaces/$sa", open_body('Meeting A', 'other'))
   ->{status}, 400, 'same title, another secret: another meeting');

# a PUT that books nothing passes

is(api(PUT => "/api/v1/cospaces/$sa", 'defaultLayout=allEqual')->{status},
   200, 'a PUT that does not book is not a double booking');

SKIP: {
    skip 'no audit plugin in this build', 2 unless $AUDIT;
    my @c = events('conflict');
    is(scalar @c, 4, 'each double booking refused is an audit event');
    is($c[0]{detail}{note}, 'Meeting C', 'naming the meeting refused');
}

# --- 4. the maximum of concurrent meetings (4), and the warning (60%)

my ($ic, $sc) = lowest_free();
is(api(PUT => "/api/v1/cospaces/$sc", open_body('Meeting C', 'sc'))
   ->{status}, 200, 'meeting C takes slot 3');
my $call_c = id_of(api(POST => '/api/v1/calls', "coSpace=$sc")
                   ->{headers}{location});
ok(status()->{warning}, '3 of 5 in use: over the 60% warning');
like($t->read_file('error.log'), qr/3 of 5 scheduled-meeting slots in use/,
     'the warning is in the error log');

my ($id, $sd) = lowest_free();
is(api(PUT => "/api/v1/cospaces/$sd", open_body('Meeting D', 'sd'))
   ->{status}, 200, 'meeting D takes slot 4');

my ($ie, $se) = lowest_free();
is($ie, 5, 'slot 5 is free');
$r = api(PUT => "/api/v1/cospaces/$se", open_body('Meeting E', 'se'));
is($r->{status}, 400, 'a fifth meeting is refused');
like($r->{content}, qr{<slotLimitReached rule="max-meetings" />},
     'slotLimitReached');
is(sim_space($se)->{name}, 'TMS_Scheduled_Meeting_5', 'slot 5 untouched');
is(status()->{counters}{refused_limit}, 1, 'counted');

# --- 5. stuck slots: D has no call; flagged after cms_slot_stuck_after

wait_for('slot 4 stuck', sub { (slot(4)->{stuck} // '') eq 'no_call' });
is(slot(4)->{state}, 'stuck', 'slot 4 (no call) is stuck');
is(slot(3)->{state}, 'in_use', 'slot 3 (with a call) is not');
is(status()->{stuck}, 1, 'one stuck slot');

# an end-of-meeting PUT the bridge does not take: stuck too

$t->sim('PUT', '/_sim/bridges/core1/fault',
        { mode => 'status', status => 503, path => "(?i)cospaces/$sc" });
$r = api(PUT => "/api/v1/cospaces/$sc", close_body($ic));
is($r->{status}, 503, 'the check-in of slot 3 fails (503)');
$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });
is(slot(3)->{stuck}, 'checkin_failed', 'slot 3 is stuck: check-in failed');
is(sim_space($sc)->{name}, 'Meeting C', 'CMS still has meeting C open');

SKIP: {
    my $bc = status()->{reconciliation}{bridge_client};
    skip 'this build has no internal client', 10 unless $bc;

    my ($code, $res) = admin('release=TMS_Scheduled_Meeting_3');
    is($code, 200, 'force release of slot 3 answered 200')
        or diag(explain($res));
    is(slot(3)->{state}, 'free', 'slot 3 is free');
    my $s3 = sim_space($sc);
    is($s3->{name}, 'TMS_Scheduled_Meeting_3', 'CMS has the placeholder');
    ok(!$s3->{nonMemberAccess}, 'and nonMemberAccess false');
    isnt($s3->{secret}, 'sc', 'and a new secret');

    ($code, $res) = admin("release=$sd");
    is($code, 200, 'force release of slot 4 by its space id');
    is(slot(4)->{state}, 'free', 'slot 4 is free');
    is(sim_space($sd)->{name}, 'TMS_Scheduled_Meeting_4',
       'CMS has slot 4\'s placeholder back');

    ($code) = admin('release=TMS_Scheduled_Meeting_9');
    is($code, 404, 'no such slot: 404');

    SKIP: {
        skip 'no audit plugin in this build', 1 unless $AUDIT;
        my @f = events('force_release');
        like($f[0]{detail}{note}, qr/released by "ops"/,
             'the force release is audited with who did it');
    }
}

# --- 6. the table survives a reload

my $before = pool();
$t->reload_nginx;
wait_for('new workers', sub {
    $t->read_file('error.log') =~ /gracefully shutting down/ });
my $after = pool();
is_deeply([map { [$_->{state}, $_->{meeting} // ''] } @{ $after->{slots} }],
          [map { [$_->{state}, $_->{meeting} // ''] } @{ $before->{slots} }],
          'after a reload: the same slots, the same meetings');
is($after->{generation}, $before->{generation}, 'the same generation');

# end A and B the TMS way

for ([$ia, $sa, $call_a], [$ib, $sb, $call_b]) {
    my ($i, $s, $c) = @$_;
    is(api(PUT => "/api/v1/cospaces/$s", close_body($i))->{status}, 200,
       "meeting on slot $i ends");
    is(api(DELETE => "/api/v1/calls/$c")->{status}, 200, 'its call ends');
}

is(pool()->{in_use}, 0, 'every slot free again');

# --- 7. a new bulk sync recreates every space: followed

my $set = $end->{id};
is(api(PUT => "/api/v1/cospaceBulkParameterSets/$set", 'endIndex=7')
   ->{status}, 200, 'the range becomes 1..7');
my $sync = id_of(api(POST => '/api/v1/cospaceBulkSyncs',
                     "cospaceBulkParameterSet=$set")->{headers}{location});
is(api(GET => "/api/v1/cospaceBulkSyncs/$sync")->{status}, 200,
   'the sync is complete');

my $p2 = pool();
is_deeply([$p2->{start}, $p2->{end}], [1, 7], 'the pool has 7 slots');
is($p2->{generation}, $before->{generation} + 1, 'a new generation');
ok(!grep({ defined $_->{space} } @{ $p2->{slots} }),
   'the old spaces are forgotten');

my ($i7, $s7) = lowest_free();
is(pool()->{slots}[0]{space}, $s7, 'a listing maps the new spaces');
isnt($s7, $space{1}, 'slot 1 has a new space id');
is(scalar(grep { defined $_->{space} } @{ pool()->{slots} }), 7,
   'all 7 mapped');

is(api(PUT => "/api/v1/cospaces/$s7", open_body('Meeting F', 'sf'))
   ->{status}, 200, 'a meeting in the new slot 1');
is(api(PUT => "/api/v1/cospaces/$s7", open_body('Meeting G', 'sg'))
   ->{status}, 400, 'and double booking is still refused there');
isnt(api(PUT => "/api/v1/cospaces/$space{2}", open_body('Meeting G', 'sg'))
     ->{status}, 200, 'the old space id is gone from CMS');

# --- 7b. a listing polled: the same bytes are not learned again while
# the zone stays as they left it (a memo per worker), but are as soon as
# the zone changed, though the listing did not

{
    my $list = '/api/v1/coSpaces?filter=TMS_Scheduled';
    my ($i, $s) = lowest_free();
    ok(defined $i, "slot $i is free");
    my $before = api(GET => $list)->{content};
    is(api(GET => $list)->{content}, $before, 'the same listing twice');

    is(api(PUT => "/api/v1/cospaces/$s", open_body('Polled Meeting', 'pm'))
       ->{status}, 200, "a meeting in slot $i, through the proxy");
    is(slot($i)->{state}, 'in_use', "slot $i in use");

    # closed again behind the proxy's back: CMS lists what it listed
    $t->http(PUT => $t->port('core1'), "/api/v1/cospaces/$s",
             body => close_body($i), user => 'admin', password => 'secret1');
    is(api(GET => $list)->{content}, $before,
       'CMS lists the very bytes it listed before');
    is(slot($i)->{state}, 'free',
       "... which now say something the zone did not know: slot $i free");
    is(api(GET => $list)->{content}, $before, 'polled again');
    is(slot($i)->{state}, 'free', "slot $i stays free");
}

# --- 8. reconciliation: CMS changed behind the proxy's back

SKIP: {
    my $bc = status()->{reconciliation}{bridge_client};
    skip 'this build has no internal client', 6 unless $bc;

    my %now = reverse(api(GET => '/api/v1/coSpaces?filter=TMS_Scheduled')
        ->{content} =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_(\d+)</g);

    # straight to the bridge: slot 5 opened, slot 1 closed
    $t->http(PUT => $t->port('core1'), "/api/v1/cospaces/$now{5}",
             body => open_body('Direct Meeting', 'dm'), user => 'admin',
             password => 'secret1');
    $t->http(PUT => $t->port('core1'), "/api/v1/cospaces/$s7",
             body => close_body(1), user => 'admin', password => 'secret1');

    is(slot(5)->{state}, 'free', 'the proxy does not know yet');

    my ($code, $res) = admin('reconcile');
    is($code, 200, 'reconcile answered 200') or diag(explain($res));
    is(slot(5)->{state}, 'in_use', 'slot 5 corrected: in use');
    is(slot(5)->{meeting}, 'Direct Meeting', 'by the meeting CMS has');
    is(slot(1)->{state}, 'free', 'slot 1 corrected: free');
    ok(status()->{counters}{corrections} >= 2, 'corrections counted');
}

$t->done;
