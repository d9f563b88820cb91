#!/usr/bin/env perl

# The policy plugin: roles from auth_basic users, allow/deny/cap/require
# rules, the dial-out allow-list, participant moves, the concurrent
# scheduled-meetings maximum, the CMS-style denials, configuration errors
# caught by nginx -t, and the TMS seed session passing untouched under
# permissive rules.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use CmsTest;
use CmsSeed qw(tms_session cmm_move normalize id_of);

my $t = CmsTest->new;

$t->start_sim;

# users of the proxy (auth_basic); the bridges' own credentials are
# injected by the proxy

my %pw = (tms => 'tms-pw', cmm => 'cmm-pw', monitor => 'mon-pw',
          admin => 'admin-pw', stranger => 'stranger-pw');

$t->write_file('htpasswd', join '', map {
    my $h = `openssl passwd -apr1 '$pw{$_}'`;
    chomp $h;
    die "openssl passwd failed" unless $h =~ /^\$apr1\$/;
    "$_:$h\n";
} sort keys %pw);

# workers may run as another user (nobody, when the tests run as root)
chmod 0711, $t->dir;
chmod 0644, $t->dir . '/htpasswd';

my $SCHEDULER = 'method=GET callProfile.create callLegProfile.create '
    . 'bulkParameterSet.create bulkSync.create coSpace.modify call.create '
    . 'call.delete callLeg.create';

my $TMS_SLOTS = <<'EOF';
        cms_policy_rule tms-slots-only deny op=coSpace.modify role=scheduler
                        unless=nonMemberAccess:^(true|false)$
                        status=403 error=invalidOperation
                        "reason=a scheduler only checks slots out and in";
        cms_policy_rule tms-slot-name deny op=coSpace.modify role=scheduler
                        if=nonMemberAccess:^false$
                        param=name !~ "^TMS_Scheduled_Meeting_[0-9]+$";
EOF

$t->write_conf(<<"EOF");
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;

    cms_policy_zone seed 32k;
    cms_policy_zone meetings 32k;
    cms_policy_zone redir 32k;

    # http level: every server and location inherits it
    cms_policy_rule no-bulk-delete deny op=bulkParameterSet.delete;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    auth_basic "cms";
    auth_basic_user_file %%TESTDIR%%/htpasswd;

    cms_credentials inject;
    cms_role scheduler tms;
    cms_role mover cmm;
    cms_role monitor monitor;
    cms_role admin admin;
    cms_default_role guest;

    # strict: everything at once
    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        # server level, inherited by the location below
        cms_policy_rule dial-out deny op=callLeg.create,participant.create
                        param=remoteParty !~ "^[^@]+\@video\\.example\\.com\$";

        location /api/v1/ {
            cms_api on;
            cms_plugins policy;

            cms_policy_role scheduler $SCHEDULER;
            cms_policy_role mover method=GET participant.move;
            cms_policy_role monitor method=GET;
            cms_policy_role guest system.status.get;
            cms_policy_role admin *;

            cms_policy_rule moves deny op=participant.move role=!mover;
$TMS_SLOTS
            cms_policy_rule profile-limit cap op=callProfile.create
                            param=participantLimit max=200 mode=clamp;
            cms_policy_rule profile-limit-modify cap op=callProfile.modify
                            param=participantLimit max=200
                            error=participantLimitReached;
            cms_policy_rule passcode require op=coSpace.create,coSpace.modify
                            if=nonMemberAccess:^true\$ param=passcode
                            min_length=6 error=passcodeTooShort;
            # a pattern whose match of a long value needs more than the
            # JIT's stack: the interpreter must decide it
            cms_policy_rule ab-names deny op=coSpace.modify
                            param=name ~ "^(a|b)*\$" error=abName;

            proxy_pass http://cms;
        }
    }

    # permissive: what TMS does is allowed
    server {
        listen 127.0.0.1:%%PORT_seed%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy;

            cms_policy_role scheduler $SCHEDULER;
$TMS_SLOTS
            cms_policy_rule tms-dial-out deny op=callLeg.create
                            param=remoteParty !~ "\@tkratzke\\.local\$";
            cms_policy_rule profile-limit cap op=callProfile.create
                            param=participantLimit max=1000;
            cms_policy_rule one-meeting meetings zone=seed max=1;

            proxy_pass http://cms;
        }
    }

    # the meetings maximum alone, inherited rules dropped
    server {
        listen 127.0.0.1:%%PORT_meet%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy;
            cms_policy_inherit off;

            cms_policy_rule max-meetings meetings zone=meetings max=2;

            proxy_pass http://cms;
        }
    }

    # the log hook never runs after an error_page to a plain location
    server {
        listen 127.0.0.1:%%PORT_redir%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy;
            cms_policy_inherit off;

            cms_policy_rule one-meeting meetings zone=redir max=1;

            proxy_pass http://cms;
            proxy_intercept_errors on;
            error_page 404 = \@missing;
        }

        location \@missing {
            return 404 "missing\n";
        }
    }

    # allow rules alone make a location default-deny; deny beats allow
    server {
        listen 127.0.0.1:%%PORT_allow%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy;

            cms_policy_rule spaces allow op=coSpace.*,system.status.get;
            cms_policy_rule keep-spaces deny op=coSpace.delete;

            proxy_pass http://cms;
        }
    }

    # rules without "cms_plugins policy" do nothing
    server {
        listen 127.0.0.1:%%PORT_plain%%;

        location /api/v1/ {
            cms_api on;
            cms_policy_rule nothing deny;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy seed meet redir allow plain)]);

my $P = $t->port('proxy');

sub as {
    my ($user, $method, $port, $path, $body) = @_;
    return $t->http($method, $port, $path, user => $user,
                    password => $pw{$user},
                    (defined $body ? (body => $body) : ()));
}

sub direct {
    my ($method, $path, $body) = @_;
    return $t->http($method, $t->port('core1'), $path, user => 'admin',
                    password => 'secret1',
                    (defined $body ? (body => $body) : ()));
}

sub failure {
    my ($element, $rule) = @_;
    return qq{<?xml version="1.0"?>\n<failureDetails><$element rule="$rule" />}
        . '</failureDetails>';
}

# a denial: status, exact body, exact reason, nothing sent to a bridge
sub denied {
    my ($res, $status, $element, $rule, $reason, $name) = @_;

    subtest $name => sub {
        is($res->{status}, $status, "status $status");
        is($res->{content}, failure($element, $rule), 'failureDetails body');
        is($res->{headers}{'content-type'}, 'text/xml', 'text/xml');
        is($res->{headers}{'x-cms-proxy-reason'}, $reason, 'reason header')
            if defined $reason;
    };
}

# a name given twice is refused by the core before any rule looks at it:
# which copy the bridge acts on is undocumented
sub ambiguous {
    my ($res, $param, $name) = @_;

    subtest $name => sub {
        is($res->{status}, 400, 'status 400');
        is($res->{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
           . qq{<parameterError parameter="$param" error="ambiguous" />}
           . qq{</failureDetails>}, 'failureDetails body');
        like($res->{headers}{'x-cms-proxy-reason'},
             qr/^parameter "$param" given more than once/, 'reason header');
    };
}

sub bridge_saw {
    return [ map { "$_->{method} $_->{path}" . ($_->{body} ne '' ? " $_->{body}" : '') }
             @{ $t->sim_requests } ];
}

sub forget { $t->sim('DELETE', '/_sim/requests') }

$t->sim('POST', '/_sim/reset');

my $space = id_of(direct(POST => '/api/v1/coSpaces', 'name=Weekly')
                  ->{headers}{location});
my $space2 = id_of(direct(POST => '/api/v1/coSpaces', 'name=Other')
                   ->{headers}{location});
my $call1 = id_of(direct(POST => '/api/v1/calls', "coSpace=$space")
                  ->{headers}{location});
my $call2 = id_of(direct(POST => '/api/v1/calls', "coSpace=$space2")
                  ->{headers}{location});
ok($space && $space2 && $call1 && $call2, 'fixtures: two spaces, two calls');

# --- roles: auth_basic user -> role -> operations

forget();

my $r = as(monitor => GET => $P, '/api/v1/coSpaces');
is($r->{status}, 200, 'monitor: GET coSpaces allowed');
like($r->{content}, qr/<coSpaces total="\d+">/, 'monitor: the bridge\'s list');

$r = as(monitor => GET => $P, "/api/v1/coSpaces/$space");
is($r->{status}, 200, 'monitor: GET one coSpace allowed');

$r = as(monitor => POST => $P, '/api/v1/coSpaces', 'name=Nope');
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "monitor" may not coSpace.create',
       'monitor: POST coSpaces is 403');

$r = as(monitor => DELETE => $P, "/api/v1/calls/$call1");
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "monitor" may not call.delete',
       'monitor: DELETE call is 403');

$r = as(stranger => GET => $P, '/api/v1/system/status');
is($r->{status}, 200, 'unmapped user: default role guest may read the status');

$r = as(stranger => GET => $P, '/api/v1/coSpaces');
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "guest" may not coSpace.list',
       'unmapped user: default role guest may not list coSpaces');

$r = as(tms => POST => $P, '/api/v1/coSpaces', 'name=Nope');
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "scheduler" may not coSpace.create',
       'scheduler: may not create coSpaces');

$r = as(admin => GET => $P, '/api/v1/calls');
is($r->{status}, 200, 'admin: * grant');

is_deeply(bridge_saw(), [
    'GET /api/v1/coSpaces',
    "GET /api/v1/coSpaces/$space",
    'GET /api/v1/system/status',
    'GET /api/v1/calls',
], 'only the permitted requests reached a bridge');

# --- inherited rules: http level, and dropped with cms_policy_inherit off

$r = as(admin => DELETE => $P, '/api/v1/cospaceBulkParameterSets/'
        . '00000000-0000-0000-0000-000000000001');
denied($r, 403, 'invalidOperation', 'no-bulk-delete',
       'policy rule no-bulk-delete: bulkParameterSet.delete is not allowed',
       'http-level rule applies in a location');

forget();
$r = as(admin => DELETE => $t->port('meet'), '/api/v1/cospaceBulkParameterSets/'
        . '00000000-0000-0000-0000-000000000001');
is_deeply(bridge_saw(), ['DELETE /api/v1/cospaceBulkParameterSets/'
                         . '00000000-0000-0000-0000-000000000001'],
          'cms_policy_inherit off drops the http-level rule');
ok(!exists $r->{headers}{'x-cms-proxy-reason'},
   'cms_policy_inherit off: the answer is the bridge\'s');

# --- participant moves: mover only

my $pid = $t->sim('POST', '/_sim/participants',
    { bridge => 'core1', call => $call1, name => 'User X' })->{id};

$r = as(tms => POST => $P, "/api/v1/calls/$call2/participants",
        "movedParticipant=$pid&needsActivation=false");
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "scheduler" may not participant.move',
       'scheduler: move denied');

$r = as(admin => POST => $P, "/api/v1/calls/$call2/participants",
        "movedParticipant=$pid&needsActivation=false");
denied($r, 403, 'invalidOperation', 'moves',
       'policy rule moves: participant.move is not allowed for role "admin"',
       'admin: move denied by rule "moves" despite the * grant');

my $cmm = sub {
    my ($method, $path, $body) = @_;
    return as(cmm => $method, $P, $path, $body);
};

my $move = cmm_move($cmm, $call2, $pid);
is($move->[0]{status}, 200, 'mover: GET participant');
is($move->[1]{status}, 200, 'mover: move answered 200');
like($move->[1]{location}, qr{^/api/v1/participants/[0-9a-f-]{36}$},
     'mover: Location of the new participant');
is($move->[3]{status}, 404, 'mover: the old participant is gone');

$r = as(cmm => PUT => $P, "/api/v1/coSpaces/$space", 'name=x');
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "mover" may not coSpace.modify',
       'mover: nothing else but reading');

# --- cap, clamp: the bridge receives the clamped body

forget();

$r = as(tms => POST => $P, '/api/v1/callProfiles',
        'participantLimit=1000&messageBoardEnabled=false');
is($r->{status}, 200, 'cap clamp: callProfile created');
my $profile = id_of($r->{headers}{location});

my ($seen) = grep { $_->{method} eq 'POST' } @{ $t->sim_requests('core1') };
is($seen->{body}, 'participantLimit=200&messageBoardEnabled=false',
   'cap clamp: the bridge received participantLimit=200, the rest as sent');
is($seen->{headers}{'content-length'}, length($seen->{body}),
   'cap clamp: Content-Length fixed');

like(direct(GET => "/api/v1/callProfiles/$profile")->{content},
     qr{<participantLimit>200</participantLimit>},
     'cap clamp: the profile has the clamped limit');

forget();

$r = as(tms => POST => $P, '/api/v1/callProfiles',
        'messageBoardEnabled=false&participantLimit=150');
is($r->{status}, 200, 'cap clamp: a value under the cap');
($seen) = @{ $t->sim_requests('core1') };
is($seen->{body}, 'messageBoardEnabled=false&participantLimit=150',
   'cap clamp: a value under the cap is not touched');

$r = as(tms => POST => $P, '/api/v1/callProfiles',
        'participantLimit=100&participantLimit=900');
ambiguous($r, 'participantLimit',
          'cap: a repeated parameter is refused, not guessed at');

# --- cap, deny

forget();

$r = as(admin => PUT => $P, "/api/v1/callProfiles/$profile",
        'participantLimit=500');
denied($r, 400, 'participantLimitReached', 'profile-limit-modify',
       'policy rule profile-limit-modify: participantLimit 500 is over the '
       . 'maximum 200',
       'cap deny: over the maximum');

$r = as(admin => PUT => $P, "/api/v1/callProfiles/$profile",
        'PARTICIPANTLIMIT=500');
denied($r, 400, 'participantLimitReached', 'profile-limit-modify', undef,
       'cap deny: parameter names are matched in any case');

$r = as(admin => PUT => $P, "/api/v1/callProfiles/$profile",
        'participantLimit=%2B500');
denied($r, 400, 'participantLimitReached', 'profile-limit-modify',
       'policy rule profile-limit-modify: participantLimit is not a whole '
       . 'number',
       'cap deny: not digits');

$r = as(admin => PUT => $P, "/api/v1/callProfiles/$profile",
        'participantLimit=99999999999999999999999');
denied($r, 400, 'participantLimitReached', 'profile-limit-modify',
       'policy rule profile-limit-modify: participantLimit is over the '
       . 'maximum 200',
       'cap deny: a huge number');

is_deeply(bridge_saw(), [], 'cap deny: nothing reached a bridge');

$r = as(admin => PUT => $P, "/api/v1/callProfiles/$profile",
        'participantLimit=200');
is($r->{status}, 200, 'cap deny: the maximum itself passes');
is_deeply(bridge_saw(), ["PUT /api/v1/callProfiles/$profile participantLimit=200"],
          'cap deny: passed unchanged');

# --- a regex match beyond the JIT's stack (3000 captures of (a|b)):
# decided as PCRE2's interpreter decides it, not refused as an error

forget();

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space", 'name=' . ('a' x 3000));
denied($r, 400, 'abName', 'ab-names', 'policy rule ab-names: name matches ^(a|b)*$',
       'a long match the JIT cannot run');
$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space", 'name=' . ('a' x 2999) . 'c');
is($r->{status}, 200, '... and a long non-match passes');

# --- require: passcode when a space is opened to non-members

forget();

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=true&passcode=123');
is($r->{status}, 400, 'require: short passcode is 400');
is($r->{content}, qq{<?xml version="1.0"?>\n<failureDetails>}
   . q{<passcodeTooShort rule="passcode" /></failureDetails>},
   'require: the denial, byte for byte');
is($r->{headers}{'x-cms-proxy-reason'},
   'policy rule passcode: passcode is shorter than 6 characters',
   'require: the reason');

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space", 'nonMemberAccess=true');
denied($r, 400, 'passcodeTooShort', 'passcode',
       'policy rule passcode: passcode is required',
       'require: no passcode at all');

$r = as(admin => POST => $P, '/api/v1/coSpaces',
        'name=Open&nonMemberAccess=true&passcode=');
denied($r, 400, 'passcodeTooShort', 'passcode',
       'policy rule passcode: passcode is shorter than 6 characters',
       'require: applies to coSpace.create too');

is_deeply(bridge_saw(), [], 'require: nothing reached a bridge');

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=true&passcode=123456');
is($r->{status}, 200, 'require: a 6-digit passcode passes');

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=false&passcode=');
is($r->{status}, 200, 'require: closing the space needs no passcode');

$r = as(admin => PUT => $P, "/api/v1/coSpaces/$space", 'name=Renamed');
is($r->{status}, 200, 'require: not about other changes');

# --- the scheduler may only check slots out and in

forget();

$r = as(tms => PUT => $P, "/api/v1/coSpaces/$space", 'name=Mine');
denied($r, 403, 'invalidOperation', 'tms-slots-only',
       'policy rule tms-slots-only: a scheduler only checks slots out and in',
       'scheduler: a plain coSpace change is refused');

$r = as(tms => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=false&passcode=&name=Weekly');
denied($r, 400, 'parameterError', 'tms-slot-name',
       'policy rule tms-slot-name: name does not match '
       . '^TMS_Scheduled_Meeting_[0-9]+$',
       'scheduler: check-in must restore a slot name');

$r = as(tms => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=true&passcode=654321&name=Board meeting');
is($r->{status}, 200, 'scheduler: check-out with any meeting name');

$r = as(tms => PUT => $P, "/api/v1/coSpaces/$space",
        'nonMemberAccess=false&passcode=&name=TMS_Scheduled_Meeting_7');
is($r->{status}, 200, 'scheduler: check-in with the slot name');

# --- dial-out allow-list (toll-fraud guard), inherited from the server

forget();

$r = as(admin => POST => $P, "/api/v1/calls/$call1/calllegs",
        'remoteParty=alice@video.example.com');
is($r->{status}, 200, 'dial-out: an allowed destination');

my $bad_reason = 'policy rule dial-out: remoteParty does not match '
    . '^[^@]+@video\.example\.com$';

$r = as(admin => POST => $P, "/api/v1/calls/$call1/calllegs",
        'remoteParty=%2B19005550100@pstn.example.net');
denied($r, 400, 'parameterError', 'dial-out', $bad_reason,
       'dial-out: callLeg.create to a premium number');

$r = as(tms => POST => $P, "/api/v1/calls/$call1/calllegs",
        'remoteParty=alice%40video.example.com.evil.net');
denied($r, 400, 'parameterError', 'dial-out', $bad_reason,
       'dial-out: percent-encoding is judged decoded');

$r = as(admin => POST => $P, "/api/v1/calls/$call1/calllegs",
        'remoteParty=alice@video.example.com&remoteParty=evil@pstn.example.net');
ambiguous($r, 'remoteParty', 'dial-out: a second remoteParty is refused');

$r = as(admin => POST => $P, "/api/v1/calls/$call1/participants",
        'remoteParty=evil@pstn.example.net');
denied($r, 400, 'parameterError', 'dial-out', $bad_reason,
       'dial-out: participant.create too');

is_deeply(bridge_saw(),
          ["POST /api/v1/calls/$call1/calllegs remoteParty=alice\@video.example.com"],
          'dial-out: only the allowed leg reached a bridge');

# --- allow rules alone: default-deny, and deny beats allow

my $A = $t->port('allow');

$r = as(stranger => GET => $A, "/api/v1/coSpaces/$space");
is($r->{status}, 200, 'allow rule: coSpace.* permitted');

$r = as(stranger => GET => $A, '/api/v1/calls');
denied($r, 403, 'invalidOperation', 'permission',
       'policy: role "guest" may not call.list',
       'allow rule: anything else is 403');

$r = as(stranger => DELETE => $A, "/api/v1/coSpaces/$space2");
denied($r, 403, 'invalidOperation', 'keep-spaces',
       'policy rule keep-spaces: coSpace.delete is not allowed',
       'deny beats an allow that matched first');

$r = as(stranger => GET => $t->port('plain'), '/api/v1/calls');
is($r->{status}, 200, 'rules in a location without cms_plugins policy do '
   . 'nothing');

# --- concurrent scheduled meetings: at most 2

my $M = $t->port('meet');
my @spaces = map {
    id_of(direct(POST => '/api/v1/coSpaces', "name=Slot $_")->{headers}{location})
} 1 .. 4;

sub checkout {
    my ($id, $open) = @_;
    return as(admin => PUT => $M, "/api/v1/coSpaces/$id",
              'nonMemberAccess=' . ($open ? 'true' : 'false'));
}

is(checkout($spaces[0], 1)->{status}, 200, 'meetings: first opened');
is(checkout($spaces[1], 1)->{status}, 200, 'meetings: second opened');
is(checkout($spaces[0], 1)->{status}, 200,
   'meetings: extending an open meeting does not count again');

$r = checkout($spaces[2], 1);
denied($r, 400, 'parameterError', 'max-meetings',
       'policy rule max-meetings: 2 scheduled meetings are open, the '
       . 'maximum is 2',
       'meetings: a third is refused');

is(checkout($spaces[0], 0)->{status}, 200, 'meetings: first closed');
is(checkout($spaces[2], 1)->{status}, 200, 'meetings: now the third opens');

$r = as(admin => PUT => $M, "/api/v1/coSpaces/$spaces[3]",
        'nonMemberAccess=TRUE&nonMemberAccess=false');
ambiguous($r, 'nonMemberAccess', 'meetings: an ambiguous checkout is refused');

$r = as(admin => PUT => $M, "/api/v1/coSpaces/$spaces[3]",
        'nonMemberAccess=1');
denied($r, 400, 'parameterError', 'max-meetings',
       'policy rule max-meetings: nonMemberAccess must be true or false',
       'meetings: a value that cannot be counted is refused');

# a checkout the bridge refuses gives its place back

is(checkout($spaces[1], 0)->{status}, 200, 'meetings: second closed');
$r = checkout('00000000-0000-0000-0000-00000000dead', 1);
is($r->{status}, 404, 'meetings: checkout of a missing space fails at the '
   . 'bridge');
is(checkout($spaces[3], 1)->{status}, 200,
   'meetings: the failed checkout did not keep a place');

$r = checkout($spaces[1], 1);
denied($r, 400, 'parameterError', 'max-meetings',
       'policy rule max-meetings: 2 scheduled meetings are open, the '
       . 'maximum is 2',
       'meetings: full again');

$r = as(admin => DELETE => $M, "/api/v1/coSpaces/$spaces[2]");
is($r->{status}, 200, 'meetings: an open space deleted');
is(checkout($spaces[1], 1)->{status}, 200,
   'meetings: deleting an open space frees its place');

# a checkout that ends in an error_page elsewhere gives its place back too

$r = as(admin => PUT => $t->port('redir'),
        '/api/v1/coSpaces/00000000-0000-0000-0000-00000000beef',
        'nonMemberAccess=true');
is($r->{status}, 404, 'meetings: a failed checkout redirected by error_page');
is($r->{content}, "missing\n", 'meetings: answered by the named location');

$r = as(admin => PUT => $t->port('redir'), "/api/v1/coSpaces/$spaces[0]",
        'nonMemberAccess=true');
is($r->{status}, 200, 'meetings: its place was given back at the request\'s '
   . 'end');

# --- the TMS seed session passes untouched under permissive rules

sub requests_seen {
    return [ map { { method => $_->{method}, path => $_->{path},
                     body => $_->{body} } } @{ $t->sim_requests('core1') } ];
}

$t->sim('POST', '/_sim/reset');
forget();
my $direct = tms_session(sub { direct(@_) });
my $direct_seen = requests_seen();

for my $round (1, 2) {
    $t->sim('POST', '/_sim/reset');
    forget();
    my $proxied = tms_session(sub { as(tms => $_[0], $t->port('seed'), $_[1], $_[2]) });

    is(scalar @$proxied, 27, "seed $round: all 27 API calls");
    ok(!grep({ $_->{status} != 200 } @$proxied), "seed $round: every step 200")
        or diag(explain([grep { $_->{status} != 200 } @$proxied]));
    is_deeply(normalize($proxied), normalize($direct),
              "seed $round: same answers as straight to the bridge");
    is_deeply(normalize(requests_seen()), normalize($direct_seen),
              "seed $round: the bridge received the same requests");
}

# (max=1 and two sessions: the meeting was counted once, extended, and
# given back at its end)

# --- configuration errors: nginx -t names the directive and the value

my %bad = (
    'bad regex' => [
        'cms_policy_rule r1 deny op=callLeg.create param=remoteParty !~ "^(a";',
        qr/"cms_policy_rule" bad regular expression "\^\(a": pcre2_compile\(\) failed: missing closing parenthesis/ ],
    'bad if= regex' => [
        'cms_policy_rule r2 deny if=name:[z-a];',
        qr/"cms_policy_rule" bad regular expression "\[z-a\]"/ ],
    'unknown operation' => [
        'cms_policy_rule r3 deny op=coSpace.modfy;',
        qr/"cms_policy_rule" rule "r3": unknown operation "coSpace\.modfy"/ ],
    'unknown wildcard' => [
        'cms_policy_rule r4 deny op=coSpaces.*;',
        qr/"cms_policy_rule" rule "r4": unknown operation "coSpaces\.\*"/ ],
    'unknown action' => [
        'cms_policy_rule r5 permit op=coSpace.get;',
        qr/"cms_policy_rule" rule "r5": unknown action "permit"/ ],
    'unknown option' => [
        'cms_policy_rule r6 deny op=coSpace.get colour=red;',
        qr/"cms_policy_rule" rule "r6": unknown option "colour=red"/ ],
    'option of another action' => [
        'cms_policy_rule r7 deny param=passcode min_length=6;',
        qr/"cms_policy_rule" rule "r7": "min_length=" is not an option of "deny"/ ],
    'cap without max' => [
        'cms_policy_rule r8 cap param=participantLimit mode=clamp;',
        qr/"cms_policy_rule" rule "r8": "cap" needs "max=" or "min="/ ],
    'bad mode' => [
        'cms_policy_rule r9 cap param=participantLimit max=5 mode=squash;',
        qr/"cms_policy_rule" rule "r9": invalid "mode=squash"/ ],
    'bad error element' => [
        'cms_policy_rule r10 deny error=<x>;',
        qr/"cms_policy_rule" rule "r10": invalid "error=<x>"/ ],
    'duplicate rule name' => [
        "cms_policy_rule r11 deny op=coSpace.get;\n"
        . 'cms_policy_rule r11 deny op=coSpace.list;',
        qr/"cms_policy_rule" rule "r11" is already defined here/ ],
    'role grant: unknown operation' => [
        'cms_policy_role monitor coSpace.lst;',
        qr/"cms_policy_role" monitor: unknown operation "coSpace\.lst"/ ],
    'role grant: unknown method' => [
        'cms_policy_role monitor method=GET,FETCH;',
        qr/"cms_policy_role" monitor: unknown method "FETCH"/ ],
    'undeclared zone' => [
        'cms_policy_rule r12 meetings zone=nowhere max=5;',
        qr/"cms_policy_rule": zone "nowhere" is not declared with "cms_policy_zone"/ ],
    'zone too small' => [
        "cms_policy_rule r13 meetings zone=tiny max=100000;\n",
        qr/cms_policy_zone "tiny" holds \d+ meetings, too few for a rule's max=100000/,
        "cms_policy_zone tiny 32k;" ],
);

for my $name (sort keys %bad) {
    my ($rule, $re, $http) = @{ $bad{$name} };
    $http //= '';

    $t->write_conf(<<"EOF", 'bad.conf');
load_module %%MODULE%%;
error_log %%TESTDIR%%/error-t.log;
pid %%TESTDIR%%/bad.pid;
events {}
http {
    $http
    server {
        listen 127.0.0.1:%%PORT_bad%%;
        location /api/v1/ {
            cms_api on;
            cms_plugins policy;
            $rule
        }
    }
}
EOF

    my ($ok, $out) = $t->nginx_t('bad.conf');
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "nginx -t names it: $name");
}

$t->write_conf(<<'EOF', 'good.conf');
load_module %%MODULE%%;
error_log %%TESTDIR%%/error-t.log;
pid %%TESTDIR%%/good.pid;
events {}
http {
    cms_policy_zone z 32k;
    server {
        listen 127.0.0.1:%%PORT_bad%%;
        location /api/v1/ {
            cms_api on;
            cms_plugins policy;
            cms_policy_role monitor method=GET,HEAD system.* unknown;
            cms_policy_rule a allow op=* method=GET;
            cms_policy_rule b deny op=coSpace.*,call.delete role=!admin,ops
                            if=x unless=y:^z$ param=p ~* "^a";
            cms_policy_rule c cap param=n min=1 max=9 mode=clamp missing=set
                            status=409 error=tooBig "reason=too big";
            cms_policy_rule d require param=p min_length=1 max_length=9
                            !~ "^0+$";
            cms_policy_rule e meetings zone=z max=10;
        }
    }
}
EOF

my ($ok, $out) = $t->nginx_t('good.conf');
ok($ok, 'nginx -t accepts every form of the language') or diag($out);

$t->done;
