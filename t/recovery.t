#!/usr/bin/env perl

# The recovery plugin (issue 19) on one instance: a meeting in progress
# (the TMS session of seed 000 up to its dial-out, plus dial-outs of our
# own) survives the death of its bridge: after the failover the backup
# hosts a call on the same coSpace, created with the same body, and the
# same remote parties are dialled again.
#
#   - core1 refuses: the call and its three dial-outs are back on core2;
#     a dial-out hung up before the failure is not dialled again; every
#     step is a "recovery" event in the audit log;
#   - core1 hangs: the same;
#   - core1 comes back and is failed back to: the recovered call stays
#     on core2 and its old ids still reach it there; a new call goes to
#     core1;
#   - a meeting checked in before the failure, and one whose call was
#     deleted during the outage, are not recovered;
#   - the backup refuses the first creates (503, CMS's "busy"): the
#     recovery tries again, within cms_recovery_retries, and succeeds;
#     the backup refusing for good: the meeting is reported as not
#     recovered, after exactly 1 + retries attempts, nothing created;
#   - a call made by the role "lab" (cms_recover_calls_skip_role) is not
#     recovered;
#   - cms_recover_calls off: nothing is recovered; the old name
#     cms_recovery still works, and says it is deprecated.
#
# Nothing is timed: each step polls the simulator's state.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;
use CmsSeed qw(tms_session id_of);
use CmsWait qw(wait_for);

my $t = CmsTest->new;

$t->start_sim;

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    cms_audit_log %%TESTDIR%%/events.log;

    cms_recover_calls %%RECOVERY%% max=16;
    cms_recover_calls_skip_role lab;
    cms_recovery_rate 100;
    cms_recovery_concurrency 2;
    cms_recovery_retries 2;
    cms_recovery_deadline 20s;
    cms_recovery_timeout 1s;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=300ms;
        cms_failback manual;
        cms_discovery off;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            cms_plugins audit recovery;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
        }

        location = /cms-status { cms_status detail; }
        location = /recovery-status {
            cms_recovery_status;
        }
        location = /metrics { cms_metrics; }
        location /cms-admin/ { cms_admin; }
    }

    # the lab's scripts: their calls are not recovered
    server {
        listen 127.0.0.1:%%PORT_lab%%;

        location /api/v1/ {
            cms_api on;
            cms_default_role lab;
            cms_credentials inject;
            cms_plugins audit recovery;
            proxy_pass http://cms;
        }
    }
}
EOF

(my $on = $conf) =~ s/%%RECOVERY%%/on/;
$t->write_conf($on);
$t->run_nginx(ports => [$t->port('proxy'), $t->port('lab')]);

my $P = $t->port('proxy');
my $json = $t->{json};

sub status {
    my $r = $t->http('GET', $P, '/cms-status');
    return $json->decode($r->{content})->{upstreams}[0];
}

sub active_is {
    my ($name) = @_;
    return wait_for("$name active", sub { status()->{active} eq $name }, 15);
}

sub all_up {
    return wait_for('all bridges up', sub {
        !grep { $_->{health} ne 'up' } @{ status()->{bridges} };
    }, 15);
}

sub api {
    my ($method, $path, $body) = @_;
    return $t->http($method, $P, $path, body => $body);
}

sub state { $t->sim('GET', '/_sim/state') }

sub calls_on {
    my ($bridge) = @_;
    return @{ state()->{bridges}{$bridge}{calls} };
}

sub parties_of {
    my ($bridge, $call) = @_;
    return sort map { $_->{remoteParty} }
                grep { $_->{call} eq $call }
                @{ state()->{bridges}{$bridge}{callLegs} };
}

sub events {
    my @e;
    for my $l (split /\n/, eval { $t->read_file('events.log') } // '') {
        my $e = eval { $json->decode($l) } or next;
        push @e, $e if ($e->{type} // '') eq 'recovery';
    }
    return @e;
}

my @EXTRA = ('room.b@example.com', 'room.c@example.com');
my $HUNGUP = 'room.gone@example.com';
my @PARTIES = sort('desk.ex90@tkratzke.local', @EXTRA);
my %OLDLEG;     # remote party -> the id of its dial-out TMS knows

sub audit {
    my @e;
    for my $l (split /\n/, eval { $t->read_file('events.log') } // '') {
        my $e = eval { $json->decode($l) } or next;
        push @e, $e if ($e->{kind} // '') eq 'call';
    }
    return @e;
}

sub leg_on {
    my ($bridge, $id) = @_;
    my ($l) = grep { $_->{id} eq $id } @{ state()->{bridges}{$bridge}{callLegs} };
    return $l;
}

# After the recovery: every request naming the old call or an old
# dial-out reaches the new one on core2, and the answers show the old ids.
sub ids_stay_valid {
    my ($call, $new) = @_;

    my %newleg = map { $_->{remoteParty} => $_->{id} }
                 grep { $_->{call} eq $new }
                 @{ state()->{bridges}{core2}{callLegs} };
    my $pb = 'room.b@example.com';
    my $pc = 'room.c@example.com';

    ok($OLDLEG{$pb} && $newleg{$pb} && $OLDLEG{$pb} ne $newleg{$pb},
       'the dial-out has a new id on core2');

    my $r = api(GET => "/api/v1/calls/$call");
    is($r->{status}, 200, 'GET /calls/<old>: 200');
    like($r->{content}, qr{<call id="\Q$call\E">}, 'shows the old id');
    unlike($r->{content}, qr{\Q$new\E}, 'and not the new one');

    is(api(PUT => "/api/v1/calls/$call", 'locked=true')->{status}, 200,
       'PUT /calls/<old>: 200');
    my ($nc) = grep { $_->{id} eq $new } calls_on('core2');
    ok($nc->{locked}, 'the new call on core2 is locked');

    $r = api(GET => "/api/v1/calls/$call/callLegs");
    is($r->{status}, 200, 'GET /calls/<old>/callLegs: 200');
    my @ids = $r->{content} =~ /<callLeg id="([^"]+)"/g;
    is_deeply([ sort @ids ], [ sort map { $OLDLEG{$_} } @PARTIES ],
              'the listing shows the dial-outs under their old ids');
    my @calls = $r->{content} =~ m{<call>([^<]+)</call>}g;
    my %seen = map { $_ => 1 } @calls;
    is_deeply([ sort keys %seen ],
              [ $call ], 'and the call under its old id');

    $r = api(GET => "/api/v1/calls/$call/callLegs?offset=1&limit=1");
    is($r->{status}, 200, 'GET /calls/<old>/callLegs?offset=1&limit=1: 200');
    is(scalar(() = $r->{content} =~ /<callLeg id=/g), 1,
       'the query went along with the new id');

    $r = api(GET => "/api/v1/calls/$call/participants");
    is($r->{status}, 200, 'GET /calls/<old>/participants: 200');
    unlike($r->{content}, qr{\Q$new\E}, 'no new call id in it');

    $r = api(GET => '/api/v1/calls');
    like($r->{content}, qr{<call id="\Q$call\E">},
         'GET /calls lists the meeting under its old id');
    unlike($r->{content}, qr{\Q$new\E}, 'not the new one');

    $r = api(GET => "/api/v1/callLegs/$OLDLEG{$pb}");
    is($r->{status}, 200, 'GET /callLegs/<old>: 200');
    like($r->{content}, qr{<callLeg id="\Q$OLDLEG{$pb}\E">}, 'its old id');
    like($r->{content}, qr{<call>\Q$call\E</call>}, 'its call\'s old id');

    is(api(PUT => "/api/v1/callLegs/$OLDLEG{$pb}", 'chosenLayout=speakerOnly')
       ->{status}, 200, 'PUT /callLegs/<old>: 200');
    is(leg_on('core2', $newleg{$pb})->{config}{chosenLayout}, 'speakerOnly',
       'changed the new dial-out on core2');

    $r = api(POST => "/api/v1/calls/$call/callLegs",
             'remoteParty=room.d@example.com');
    is($r->{status}, 200, 'POST /calls/<old>/callLegs: 200');
    my $d = id_of($r->{headers}{location});
    is(leg_on('core2', $d // '')->{call}, $new,
       'a dial-out on the new call on core2');

    # a Location naming new ids (no CMS answer to these requests has
    # one, but the translation holds for any): shown with the old ones
    fault('core2', mode => 'status', status => 200,
          path => "^/api/v1/calls/$new\$",
          location => "/api/v1/calls/$new/callLegs/$newleg{$pb}");
    $r = api(PUT => "/api/v1/calls/$call", 'locked=false');
    fault('core2');
    is($r->{headers}{location}, "/api/v1/calls/$call/callLegs/$OLDLEG{$pb}",
       'a Location naming the new call and dial-out shows the old ids');

    is(api(DELETE => "/api/v1/callLegs/$OLDLEG{$pc}")->{status}, 200,
       'DELETE /callLegs/<old>: 200');
    ok(!leg_on('core2', $newleg{$pc}), 'the new dial-out is gone from core2');
    is(api(DELETE => "/api/v1/callLegs/$d")->{status}, 200,
       'the new dial-out hung up again');

    $r = api(GET => '/recovery-status');
    ok($json->decode($r->{content})->{translated} >= 10,
       'status: the translations counted');
}

sub steps {
    my ($step) = @_;
    return grep { $_->{detail}{step} eq $step } events();
}

sub fault {
    my ($bridge, %f) = @_;
    $t->sim('PUT', "/_sim/bridges/$bridge/fault", { mode => 'none', %f });
}

# a fresh cluster: core1 active and up, the simulator empty of calls
sub fresh {
    fault('core1');
    fault('core2');
    $t->sim('POST', '/_sim/reset');
    ok(all_up(), 'both bridges up');
    if (status()->{active} ne 'core1') {
        is($t->http('POST', $P, '/cms-admin/failback')->{status}, 200,
           'failback to core1');
        ok(active_is('core1'), 'core1 active');
    }
    $t->sim('DELETE', '/_sim/requests');
}

# The TMS session up to the dial-out, then two dial-outs more and one
# that is hung up again; $die runs then.  Returns the coSpace, the call,
# the transcript.
sub meeting {
    my ($die) = @_;
    my ($space, $call);

    my $tms = sub { api(@_) };

    my $session = tms_session($tms, between => sub {
        ($call) = map { $_->{id} } calls_on('core1');
        $space = (calls_on('core1'))[0]{coSpace};

        for my $party (@EXTRA) {
            my $r = api(POST => "/api/v1/calls/$call/calllegs",
                        "remoteParty=$party&needsActivation=false");
            is($r->{status}, 200, "dial-out to $party");
        }

        %OLDLEG = map { $_->{remoteParty} => $_->{id} }
                  grep { $_->{call} eq $call }
                  @{ state()->{bridges}{core1}{callLegs} };

        my $r = api(POST => "/api/v1/calls/$call/callLegs",
                    "remoteParty=$HUNGUP");
        my $leg = id_of($r->{headers}{location});
        is(api(DELETE => "/api/v1/callLegs/$leg")->{status}, 200,
           "the dial-out to $HUNGUP hung up again");

        $die->($call, $space);
    });

    return ($space, $call, $session);
}


# --- core1 refuses connections: the meeting is re-created on core2

fresh();

my ($space, $call, $session, $new, $rst, @parties, @reqs, $lab);

($space, $call, $session) = meeting(sub {
    my ($call, $space) = @_;

    is_deeply([ parties_of('core1', $call) ], \@PARTIES,
              'before: three dial-outs on core1');

    # a call of the lab on core1, with a dial-out
    my $L = $t->port('lab');
    $lab = id_of($t->http(POST => $L, '/api/v1/coSpaces', body => 'name=Lab')
                 ->{headers}{location});
    my $lc = id_of($t->http(POST => $L, '/api/v1/calls', body => "coSpace=$lab")
                   ->{headers}{location});
    ok($lc, 'the lab made a call on core1');
    is($t->http(POST => $L, "/api/v1/calls/$lc/callLegs",
                body => 'remoteParty=lab@example.com')->{status}, 200,
       'and dialled out');

    fault('core1', mode => 'refuse');
    ok(!calls_on('core1'), 'core1 died: its calls are gone');
    ok(active_is('core2'), 'failover to core2');

    ok(wait_for('the call on core2', sub {
        my @c = grep { $_->{coSpace} eq $space } calls_on('core2');
        return 0 unless @c == 1;
        $new = $c[0]{id};
        my @p = parties_of('core2', $new);
        return @p == 3;
    }, 15), 'the meeting is back on core2 with its dial-outs');

    ok(wait_for('the done event', sub { steps('done') >= 1 }),
       'the recovery is over');

    $rst = $json->decode($t->http('GET', $P, '/recovery-status')->{content});
    @parties = parties_of('core2', $new);
    @reqs = grep { $_->{bridge} eq 'core2' && $_->{method} eq 'POST' }
            @{ $t->sim_requests };

    ids_stay_valid($call, $new);
});

is($rst->{recovered}, 1, 'status: one call recovered');
ok(!grep({ $_->{coSpace} eq $lab } calls_on('core2')),
   'the lab\'s call is not recovered (cms_recover_calls_skip_role lab)');
is($rst->{not_tracked_role}, 1, 'status: one call not kept for its role');
is(scalar(steps('started')), 1, 'one recovery');
is((steps('started'))[0]{detail}{calls}, 1, 'of one call: the lab\'s not kept');
is($rst->{legs}, 3, 'status: three dial-outs');
my ($kept) = grep { $_->{coSpace} eq $space } @{ $rst->{meetings} };
is($kept->{first}, $call, 'status: the meeting under the id TMS got');
is($kept->{call}, $new, 'and the id it has now');
is($kept->{bridge}, 'core2', 'on core2');
is($kept->{legs}, 3, 'with its three dial-outs');
is($kept->{recoveries}, 1, 'recovered once');
my %maps = map { $_->{old} => $_->{now} } @{ $rst->{maps} };
is($maps{$call}, $new, 'status: the old call id mapped to the new');
is(scalar(grep { $maps{$OLDLEG{$_}} } @PARTIES), 3,
   'and the three dial-outs\' old ids');
is($rst->{maps_kept}, 4, 'four maps kept');

ok($call && $new && $new ne $call, 'a new call on core2')
    or diag(explain(state()->{bridges}{core2}));
is_deeply(\@parties, \@PARTIES,
          'the same remote parties dialled again, not the hung-up one');

is(scalar(grep { $_->{path} eq '/api/v1/calls' } @reqs), 1,
   'one call create on core2');
is((grep { $_->{path} eq '/api/v1/calls' } @reqs)[0]{body},
   "coSpace=$space", 'with the body TMS sent');
is(scalar(grep { $_->{path} =~ m{^/api/v1/calls/\Q$new\E/callLegs$} } @reqs),
   3, 'three dial-outs on the new call, after it');
is((grep { $_->{path} =~ m{/callLegs$} } @reqs)[1]{body},
   'remoteParty=room.b@example.com&needsActivation=false',
   'a dial-out with its own parameters');
ok($reqs[0]{path} eq '/api/v1/calls', 'the call first, then its legs');

# the same in the Prometheus answer
my %m = $t->http('GET', $P, '/metrics')->{content}
        =~ /^(cms_recovery_\S+) (\d+)$/mg;
is($m{cms_recovery_runs_total}, 1, 'metrics: one recovery run');
is($m{'cms_recovery_calls_total{outcome="recovered"}'}, 1,
   'metrics: one call recovered');
is($m{'cms_recovery_calls_total{outcome="failed"}'}, 0, 'none failed');
is($m{'cms_recovery_legs_total{outcome="redialled"}'}, 3,
   'metrics: three dial-outs re-made');
is($m{'cms_recovery_not_kept_total{reason="role"}'}, 1,
   'metrics: the lab\'s call not kept for its role');
is($m{cms_recovery_id_maps}, 4, 'metrics: four old ids mapped');
ok($m{cms_recovery_translated_total} >= 10,
   'metrics: the requests and answers translated');
is($m{cms_recovery_meetings_kept}, 0, 'metrics: no meeting kept: TMS '
   . 'ended its own, the lab\'s never was');

my ($rec) = steps('call.recovered');
is($rec->{detail}{call}, $call, 'event call.recovered: the old call');
is($rec->{detail}{new_call}, $new, 'and the new one');
is($rec->{detail}{coSpace}, $space, 'and the coSpace');
is($rec->{detail}{bridge}, 'core2', 'on core2');
is(scalar(steps('callLeg.redialled')), 3, 'three callLeg.redialled events');
my ($done) = steps('done');
is($done->{detail}{recovered}, 1, 'done: one call recovered');
is($done->{detail}{legs}, 3, 'done: three dial-outs');
is($done->{detail}{failed}, 0, 'done: none failed');
unlike($t->read_file('events.log'), qr/secret=|passcode=|86db1bdd/,
       'no body, no secret in the events');

is_deeply([ map { "$_->{request} -> $_->{status}" }
            grep { $_->{status} != 200 } @$session ], [],
          'the session: every step answered 200, ending the call by its '
          . 'old id too');
is($session->[-1]{request}, "DELETE /api/v1/calls/$call",
   'TMS ended the meeting by the id it was given');
ok(!grep({ $_->{id} eq $new } calls_on('core2')),
   'which ended the new call on core2');
ok(!grep({ $_->{path} =~ /\Q$call\E/ }
         grep { $_->{bridge} eq 'core2' } @{ $t->sim_requests }),
   'core2 never heard of the old id');

my ($end) = grep { ($_->{method} // '') eq 'DELETE'
                   && ($_->{client_path} // '') eq "/api/v1/calls/$call" }
            audit();
ok($end, 'the audit record of the end names the old id the client used')
    or diag(explain([ audit() ]));
is($end->{path}, "/api/v1/calls/$new", 'and the new one the bridge got');
is($end->{object_id}, $new, 'object_id: the id the bridge acted on');
is($end->{bridge}, 'core2', 'on core2');

# --- core1 hangs: the same

fresh();
truncate($t->dir . '/events.log', 0);
$new = undef;

($space, $call, $session) = meeting(sub {
    my ($call, $space) = @_;

    fault('core1', mode => 'hang');
    ok(active_is('core2'), 'core1 hangs: failover to core2');

    ok(wait_for('the call on core2', sub {
        my @c = grep { $_->{coSpace} eq $space } calls_on('core2');
        return 0 unless @c == 1;
        $new = $c[0]{id};
        my @p = parties_of('core2', $new);
        return @p == 3;
    }, 15), 'the meeting is back on core2 with its dial-outs');

    is_deeply([ parties_of('core2', $new // '') ], \@PARTIES,
              'the same remote parties');
});

ok(!grep({ $_->{id} eq ($new // '') } calls_on('core2')),
   'TMS ended it by the old id');

# --- checked in before, deleted during the outage: not recovered

fresh();
truncate($t->dir . '/events.log', 0);

my ($c2, $done2);

($space, $call, $session) = meeting(sub {
    my ($call, $space) = @_;

    # the meeting is over: TMS checks the slot in (its DELETE of the
    # call comes later, after the failure)
    is(api(PUT => "/api/v1/cospaces/$space",
           '&nonMemberAccess=false&passcode=&name=TMS_Scheduled_Meeting_1'
           . '&regenerateSecret=true')->{status}, 200, 'slot checked in');

    my $s2 = id_of(api(POST => '/api/v1/coSpaces', 'name=Second')
                   ->{headers}{location});
    $c2 = id_of(api(POST => '/api/v1/calls', "coSpace=$s2")
                ->{headers}{location});
    ok($c2, 'a second meeting on core1');
    is(api(POST => "/api/v1/calls/$c2/callLegs", 'remoteParty=second@example.com')
       ->{status}, 200, 'with a dial-out');

    fault('core1', mode => 'refuse');
    my $r = api(DELETE => "/api/v1/calls/$c2");
    note("its call deleted during the outage: $r->{status}");

    ok(active_is('core2'), 'failover to core2');
    ok(wait_for('the done event', sub { steps('done') >= 1 }),
       'recovery over');

    ($done2) = steps('done');
});

is($done2->{detail}{calls}, 0, 'done: nothing to recover');
ok(!calls_on('core2'), 'no call on core2');

# --- failback: the recovered call stays on core2 (no second
# interruption), new calls follow the failback (here: by hand)

fresh();
truncate($t->dir . '/events.log', 0);
$new = undef;

my ($later, $fb_space);

($space, $call, $session) = meeting(sub {
    my ($call, $space) = @_;

    fault('core1', mode => 'refuse');
    ok(active_is('core2'), 'failover to core2');
    ok(wait_for('the call on core2', sub {
        my @c = grep { $_->{coSpace} eq $space } calls_on('core2');
        return 0 unless @c == 1;
        $new = $c[0]{id};
        my @p = parties_of('core2', $new);
        return @p == 3;
    }, 15), 'the meeting is back on core2');
    ok(wait_for('the done event', sub { steps('done') >= 1 }),
       'the recovery is over');

    fault('core1');
    ok(all_up(), 'core1 is back (empty: its calls died with it)');
    is($t->http('POST', $P, '/cms-admin/failback')->{status}, 200,
       'failback to core1 (cms_failback manual)');
    ok(active_is('core1'), 'core1 active again');

    ok(!calls_on('core1'), 'nothing moved back to core1');
    is(scalar(grep { $_->{id} eq $new } calls_on('core2')), 1,
       'the recovered call goes on on core2: no second interruption');
    is(scalar(steps('started')), 1, 'no second recovery');

    my $r = api(GET => "/api/v1/calls/$call");
    is($r->{status}, 200, 'after the failback GET /calls/<old> still answers');
    like($r->{content}, qr{<call id="\Q$call\E">}, 'from core2, as the old id');
    is(api(PUT => "/api/v1/calls/$call", 'locked=true')->{status}, 200,
       'PUT /calls/<old>: 200');
    my ($nc) = grep { $_->{id} eq $new } calls_on('core2');
    ok($nc->{locked}, 'on the call on core2');
    is(api(POST => "/api/v1/calls/$call/callLegs",
           'remoteParty=late@example.com')->{status}, 200,
       'a dial-out made after the failback');
    my @p = parties_of('core2', $new);
    is(scalar(@p), 4, 'joins the call on core2');

    $fb_space = id_of(api(POST => '/api/v1/coSpaces', 'name=After')
                      ->{headers}{location});
    $later = id_of(api(POST => '/api/v1/calls', "coSpace=$fb_space")
                   ->{headers}{location});
    ok($later && grep({ $_->{id} eq $later } calls_on('core1')),
       'a new meeting goes to core1, the failback\'s bridge');
});

is_deeply([ map { "$_->{request} -> $_->{status}" }
            grep { $_->{status} != 200 } @$session ], [],
          'after the failback, TMS extends and ends its meeting by the old id');
ok(!grep({ $_->{id} eq ($new // '') } calls_on('core2')),
   'the call on core2 has ended');
is(api(DELETE => "/api/v1/calls/$later")->{status}, 200,
   'the new meeting ends on core1');

# --- the backup busy: tried again, within bounds

fresh();
truncate($t->dir . '/events.log', 0);
$new = undef;

# core2 answers 503 to call creates (CMS's "busy, retry later") until the
# second attempt: the fault is lifted when the first create is seen
($space, $call, $session) = meeting(sub {
    my ($call, $space) = @_;

    fault('core2', mode => 'status', status => 503, path => '^/api/v1/calls$');
    fault('core1', mode => 'refuse');
    ok(active_is('core2'), 'failover to core2, which is busy');

    ok(wait_for('a refused create', sub {
        grep { $_->{bridge} eq 'core2' && $_->{path} eq '/api/v1/calls' }
            @{ $t->sim_requests };
    }, 15), 'the first create was refused');
    fault('core2');

    ok(wait_for('the call on core2', sub {
        my @c = grep { $_->{coSpace} eq $space } calls_on('core2');
        return 0 unless @c == 1;
        $new = $c[0]{id};
        my @p = parties_of('core2', $new);
        return @p == 3;
    }, 15), 'recovered on a later attempt');

    is(scalar(calls_on('core2')), 1, 'one call, not two');
});

ok(wait_for('the done event', sub { steps('done') >= 1 }), 'recovery over');
($done) = steps('done');
is($done->{detail}{recovered}, 1, 'done: recovered');
my $creates = grep { $_->{bridge} eq 'core2' && $_->{method} eq 'POST'
                     && $_->{path} eq '/api/v1/calls' } @{ $t->sim_requests };
ok($creates >= 2 && $creates <= 3,
   "$creates creates: refused ones, then the one that worked");

# the backup refuses for good: reported, bounded, nothing made

fresh();
truncate($t->dir . '/events.log', 0);

($space, $call, $session) = meeting(sub {
    fault('core2', mode => 'status', status => 503, path => '^/api/v1/calls$');
    fault('core1', mode => 'refuse');
    ok(active_is('core2'), 'failover to core2, which stays busy');
    ok(wait_for('the done event', sub { steps('done') >= 1 }, 20),
       'the recovery gave up');
});

my ($failed) = steps('call.recovery_failed');
ok($failed, 'call.recovery_failed event') or diag(explain([ events() ]));
is($failed->{detail}{call}, $call, 'for the call');
is($failed->{detail}{legs_not_redialled}, 3, 'three dial-outs not re-made');
like($failed->{detail}{error}, qr/answered 503/, 'why');
is(scalar(grep { $_->{bridge} eq 'core2' && $_->{path} eq '/api/v1/calls'
                 && $_->{method} eq 'POST' } @{ $t->sim_requests }),
   3, 'three attempts: 1 + cms_recovery_retries');
like($t->error_log, qr/\[error\].*cms recovery: call "\Q$call\E" on coSpace "\Q$space\E" not recovered on "core2"/,
     'in the error log');
fault('core2');

# --- the old name of the directive

$t->write_conf(<<'EOF', 'old-name.conf');
%%GLOBALS%%
events {}
http {
    cms_recovery on;
}
EOF
my ($ok, $msg) = $t->nginx_t('old-name.conf');
ok($ok, 'cms_recovery (the old name) still works');
like($msg, qr/\[warn\].*"cms_recovery" is deprecated, use "cms_recover_calls"/,
     'and says it is deprecated');

$t->write_conf(<<'EOF', 'both-names.conf');
%%GLOBALS%%
events {}
http {
    cms_recover_calls on;
    cms_recovery off;
}
EOF
($ok, $msg) = $t->nginx_t('both-names.conf');
ok(!$ok, 'both names at once: refused');
like($msg, qr/is duplicate/, 'as a duplicate');

# --- cms_recover_calls off

(my $off = $conf) =~ s/%%RECOVERY%%/off/;
$t->write_conf($off);
$t->reload_nginx;

fresh();
truncate($t->dir . '/events.log', 0);

($space, $call, $session) = meeting(sub {
    fault('core1', mode => 'refuse');
    ok(active_is('core2'), 'recovery off: failover to core2');
});

ok(!calls_on('core2'), 'recovery off: no call re-created');
is($t->http('GET', $P, '/recovery-status')->{content}, qq{{"enabled":false}\n},
   'recovery off: the status says so');
ok(!events(), 'and no recovery event');

fault('core1');

$t->done;
