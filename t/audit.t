#!/usr/bin/env perl

# The audit plugin: one JSON line per API call (scope=writes: POST, PUT,
# DELETE and denials; scope=all: every call), for calls that succeeded,
# were denied, found no bridge, or whose client went away; secrets
# masked; readable summaries of the TMS session (with the slots plugin's
# notes, and from the parameters alone where it is not enabled); nothing
# lost across reopen (USR1), reload (HUP) and, when writing through,
# kill -9.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep);
use POSIX ();
use CmsTest;
use CmsSeed qw(tms_session id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8;

my $SECRET = '86db1bdd-5cf7-4ea8-b88d-479195f4701a';
my $MEETING = 'Tim Kratzke Acano TMSXE Test Meeting';
my $GUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

# workers run as nobody: they must reach the files to reopen them
chmod 0755, $t->dir or die "chmod: $!";

$t->start_sim;

# the audit names users nginx verified (auth_basic), never the raw header
$t->write_file('htpasswd', "admin:{PLAIN}secret1\n");

# anonymous clients are let in (the bridge's credentials are injected);
# a client that names itself is checked
my $proxy_conf = <<'EOF';
        location /api/v1/ {
            auth_basic $cms_realm;
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins audit %%SLOTS%%;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_connect_timeout 2s;
        }
EOF

my $policy = <<'EOF';
            cms_policy_rule keep-spaces deny op=coSpace.delete
                "reason=coSpaces are kept";
            cms_policy_rule no-leg-list deny op=callLeg.list;
EOF

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    map $http_authorization $cms_realm {
        ""       off;
        default  "cms";
    }

    log_format rid '$cms_request_id $request_method $request_uri $status';
    access_log %%TESTDIR%%/access.log rid;

    # the http level: where events go, and the default below
    cms_audit_log %%TESTDIR%%/main.log;
%%SLOTS_HTTP%%
    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;

        # no keepalive: the simulator drops connections it accepted before
        # a "refuse" fault, and a POST on such a cached connection would
        # fail (and mark the bridge down) for reasons that are not audited
    }

    # the same bridges for the fault tests: nginx's passive failure
    # accounting (max_fails) is per upstream, so faults here do not make
    # the bridges "down" for the other servers
    upstream cms_down {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        cms_audit_log %%TESTDIR%%/audit.log;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_all%%;
        cms_audit_log %%TESTDIR%%/all.log scope=all;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_buffered%%;
        cms_audit_log %%TESTDIR%%/buffered.log buffer=64k flush=1h;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_ring%%;
        cms_audit_log %%TESTDIR%%/ring.log ring=64k flush=1h;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_down%%;
        cms_audit_log %%TESTDIR%%/audit.log;
        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms_down;
            proxy_connect_timeout 2s;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_inherit%%;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_noslots%%;
        cms_audit_log %%TESTDIR%%/noslots.log;
        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_off%%;
        cms_audit_log off;
%%PROXY%%
    }

    server {
        listen 127.0.0.1:%%PORT_policy%%;
        cms_audit_log %%TESTDIR%%/policy.log;
        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins audit policy;
%%POLICY%%
            proxy_pass http://cms;
        }
    }
}
EOF

# the policy and slots plugins are built in: the slots plugin's notes
# tell the meeting and the slot of every call about it

my $slots_http = <<'EOF';
    cms_slot_reconcile_at_start off;
EOF

$t->write_conf(expand($conf, $policy, 1));

$t->run_nginx(ports => [map { $t->port($_) }
                        qw(proxy all buffered ring down inherit off policy
                           noslots)]);

sub expand {
    my ($c, $pol, $slots) = @_;
    $c =~ s/%%PROXY%%\n/$proxy_conf/g;
    $c =~ s/%%POLICY%%\n/$pol/g;
    $c =~ s/%%SLOTS_HTTP%%\n/$slots ? $slots_http : ''/ge;
    $c =~ s/%%SLOTS%%/$slots ? 'slots' : ''/ge;
    return $c;
}

sub client {
    my ($port) = @_;
    return sub {
        my ($method, $path, $body) = @_;
        return $t->http($method, $port, $path, body => $body,
                        user => 'admin', password => 'secret1');
    };
}

# Complete lines only: a record being appended while the file is read
# shows as a tail without its newline yet.
sub lines {
    my ($file) = @_;
    my @l = $t->read_file($file) =~ /^(.+)\n/mg;
    return @l;
}

# Records are written in the log phase, which may come just after the
# client has its answer: wait for them to be there (not a timed assertion:
# the count is asserted afterwards, whatever the wait saw).
sub wait_lines {
    my ($file, $n) = @_;
    for (1 .. 400) {
        last if lines($file) >= $n;
        sleep 0.025;
    }
    return lines($file);
}

sub records {
    my ($file, $n) = @_;
    return map { $json->decode($_) } wait_lines($file, $n // 0);
}

sub post {
    my ($port, $path, $body) = @_;
    return client($port)->('POST', $path, $body);
}

# --- the TMS session of seed 000, scope=writes

$t->sim('POST', '/_sim/reset');
my $tms = tms_session(client($t->port('proxy')));

is(scalar(grep { $_->{status} == 200 } @$tms), 27,
   'TMS session: 27 calls, all answered 200');

my @writes = grep { $_->{request} =~ /^(POST|PUT|DELETE) / } @$tms;
my @rec = records('audit.log', scalar @writes);

is(scalar @rec, 10, 'scope=writes: one record for each of the 10 writes');

is_deeply([map { $_->{operation} } @rec], [qw(
    callProfile.create callLegProfile.create
    bulkParameterSet.create bulkSync.create
    coSpace.modify call.create callLeg.create
    coSpace.modify coSpace.modify call.delete
)], 'the operations, in the order of the session');

is_deeply([map { "$_->{method} $_->{path}" } @rec],
          [map { $_->{request} =~ /^(\S+ \S+)/ } @writes],
          'methods and paths as the client sent them');

my ($space) = $writes[4]{request} =~ m{/cospaces/([^/ ]+)};
my $call = id_of($writes[5]{location});
my $leg = id_of($writes[6]{location});

is($rec[0]{location}, $writes[0]{location}, 'callProfile Location');
is($rec[0]{location_id}, id_of($writes[0]{location}), 'and its id');
like($rec[0]{location_id}, $GUID, 'a GUID');
is($rec[5]{location_id}, $call, 'the call id from the Location');
is($rec[6]{location_id}, $leg, 'the call leg id from the Location');
is($rec[6]{call_id}, $call, 'the call leg names its call');
is($rec[4]{object_id}, $space, 'the slot PUT names the coSpace');

is_deeply([map { $_->{status} } @rec], [(200) x 10], 'status 200 each');
is_deeply([map { $_->{bridge_status} } @rec], [(200) x 10],
          'bridge_status 200 each');
is_deeply([map { $_->{bridge} } @rec], [('core1') x 10], 'all on core1');
is_deeply([map { $_->{user} } @rec], [('admin') x 10], 'user admin');
is_deeply([map { $_->{verdict} } @rec], [('pass') x 10], 'verdict pass');
is_deeply([map { $_->{upstream_failed} ? 1 : 0 } @rec], [(0) x 10],
          'no upstream failure');
is_deeply([map { $_->{client_aborted} ? 1 : 0 } @rec], [(0) x 10],
          'no client abort');
is_deeply([map { $_->{kind} } @rec], [('call') x 10], 'kind call');

# the parameters, in order, the secret masked

is($rec[4]{params}{secret}, '***', 'secret masked');
is($rec[4]{params}{passcode}, '', 'an empty passcode shows as empty');
is($rec[4]{params}{name}, $MEETING, 'name in clear');
is($rec[4]{params}{nonMemberAccess}, 'true', 'nonMemberAccess in clear');
like(($t->read_file('audit.log') =~ /^(.*"coSpace\.modify".*)$/m)[0],
     qr/"params":\{"nonMemberAccess":"true","passcode":"","name":"\Q$MEETING\E","secret":"\*\*\*"\}/,
     'parameters in the order of the body');
is($rec[8]{params}{regenerateSecret}, 'true',
   'regenerateSecret is not a secret');
unlike($t->read_file('audit.log'), qr/\Q$SECRET\E/,
       'the secret value is nowhere in the file');
unlike($t->read_file('audit.log'), qr/secret1/,
       'nor the password of the Authorization header');

# the meeting and the slot: the slots plugin's notes, which know the slot
# and its meeting on every call about it; without them, the name a PUT
# sets (and, closing, the name it gives back is taken for the slot's)

my $SLOT = 'TMS_Scheduled_Meeting_1';

is_deeply([map { $_->{meeting} } @rec[4 .. 9]],
          [$MEETING, $MEETING, undef, $MEETING, $MEETING, undef],
          'meeting: the one the slot holds, opened, extended, closed');
is_deeply([map { $_->{slot} } @rec[4 .. 9]],
          [$SLOT, $SLOT, undef, $SLOT, $SLOT, $SLOT],
          'slot: the slot\'s own name, on the call too');
is($rec[0]{meeting}, undef, 'no meeting on a callProfile');
is($rec[0]{slot}, undef, 'no slot either');

# the record as a story

is_deeply([map { $_->{summary} } @rec], [
    "admin created callProfile " . id_of($writes[0]{location}),
    "admin created callLegProfile " . id_of($writes[1]{location}),
    'admin defined coSpaces TMS_Scheduled_Meeting_$index$ for index 1 to 5'
        . ' (bulk parameter set ' . id_of($writes[2]{location}) . ')',
    'admin synchronised bulk parameter set ' . id_of($writes[2]{location})
        . ' (bulk sync ' . id_of($writes[3]{location}) . ')',
    qq{admin opened slot $SLOT as "$MEETING"},
    qq{admin created call $call in "$MEETING" (coSpace $space)},
    "admin dialled desk.ex90\@tkratzke.local into call $call (callLeg $leg)",
    qq{admin extended "$MEETING" in slot $SLOT},
    qq{admin closed slot $SLOT (was "$MEETING") with a new secret},
    "admin ended call $call",
], 'summaries tell the TMS session') or diag(explain([map { $_->{summary} } @rec]));

diag('a record of the seed replay: '
     . (grep { /"coSpace\.modify"/ } lines('audit.log'))[0])
    if $ENV{TEST_VERBOSE};

# times and request ids

for my $r (@rec) {
    like($r->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         "ISO 8601 time $r->{time}") or last;
}
my @t0 = gmtime(int($rec[0]{time_ms} / 1000));
is(substr($rec[0]{time}, 0, 19),
   sprintf('%04d-%02d-%02dT%02d:%02d:%02d', $t0[5] + 1900, $t0[4] + 1,
           @t0[3, 2, 1, 0]), 'time_ms and time agree');
ok(abs($rec[0]{time_ms} / 1000 - time) < 600, 'time_ms is now-ish');
ok(!grep({ $rec[$_]{time_ms} < $rec[$_ - 1]{time_ms} } 1 .. $#rec),
   'time_ms never goes back');

my %access = map { (split / /)[0] => $_ } lines('access.log');
is(scalar(grep { $_->{request_id} =~ /^[0-9a-f]{32}$/
                 && ($access{$_->{request_id}} // '')
                    =~ /^\S+ \Q$_->{method} $_->{path}\E 200$/ } @rec),
   10, 'request_id: the one the access log has for the same request');
{
    # $cms_request_id: instance, worker start, pid, then a counter
    my %prefix = map { substr($_->{request_id}, 0, 20) => 1 } @rec;
    is(scalar keys %prefix, 1, 'request_id: one worker, one prefix');
    my @n = map { hex substr($_->{request_id}, 20) } @rec;
    ok(!grep({ $n[$_] <= $n[$_ - 1] } 1 .. $#n),
       'request_id: the counter goes up with every request');
}
is($rec[0]{client}, '127.0.0.1', 'client address');

# --- scope=all: every call, GETs included

$t->sim('POST', '/_sim/reset');
my $all = tms_session(client($t->port('all')));
my @arec = records('all.log', 27);

is(scalar @arec, 27, 'scope=all: 27 records for 27 calls');
is_deeply([map { "$_->{method} $_->{path} $_->{status}" } @arec],
          [map { ($_->{request} =~ /^(\S+ \S+)/)[0] . " $_->{status}" }
           @$all], 'every call, in order, with its status');
is($arec[0]{operation}, 'system.status.get', 'GET /system/status');
is($arec[0]{summary}, 'admin read system.status', 'its summary');
like((grep { $_->{operation} eq 'coSpace.list' } @arec)[0]{summary},
     qr/^admin listed coSpaces$/, 'a list, in words');

# --- a client that goes away while the bridge hangs

$t->sim('PUT', "/_sim/bridges/$_/fault", { mode => 'hang' }) for qw(core1 core2);
$t->sim('DELETE', '/_sim/requests');

my $body = 'name=Gone+Away';
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port('down'))
    or die "connect: $!";
print $s "POST /api/v1/coSpaces HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: Basic YWRtaW46c2VjcmV0MQ==\r\n"
    . "Content-Type: application/x-www-form-urlencoded\r\n"
    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

# close only once the request hangs at the bridge
for (1 .. 400) {
    last if grep { ($_->{body} // '') eq $body } @{ $t->sim_requests };
    sleep 0.025;
}
ok((grep { ($_->{body} // '') eq $body } @{ $t->sim_requests }),
   'the request reached the hanging bridge');
close $s;

my ($gone) = grep { ($_->{params}{name} // '') eq 'Gone Away' }
             records('audit.log', 11);
ok($gone, 'a record for the aborted request');
ok($gone->{client_aborted}, 'client_aborted');
is($gone->{status}, 499, 'status 499, as the access log says');
is($gone->{bridge_status}, 0, 'the bridge never answered');
like($gone->{bridge} // '', qr/^core[12]$/, 'the bridge it was sent to');
is($gone->{summary}, 'admin tried to create coSpace named "Gone Away": '
   . 'the client went away before the answer, the outcome is unknown',
   'its summary says the outcome is unknown');

$t->sim('POST', '/_sim/reset');

# --- a write the bridges never answered: both refuse connections

$t->sim('POST', '/_sim/reset');
$t->sim('PUT', "/_sim/bridges/$_/fault", { mode => 'refuse' })
    for qw(core1 core2);

my $res = post($t->port('down'), '/api/v1/coSpaces', 'name=Nobody+Home');
is($res->{status}, 502, 'both bridges refuse: 502');

my ($fail) = grep { ($_->{params}{name} // '') eq 'Nobody Home' }
             records('audit.log', 12);
ok($fail, 'a record for the failed request');
is($fail->{status}, 502, 'status: the 502 the client got');
like($fail->{request_id}, qr/^[0-9a-f]{32}$/, 'its request_id');
is($res->{headers}{'x-request-id'}, $fail->{request_id},
   'the 502 carries the record\'s request_id in X-Request-Id');
is($fail->{bridge_status}, 0, 'bridge_status 0: no bridge answered');
ok($fail->{upstream_failed}, 'upstream_failed');
ok(!$fail->{client_aborted}, 'not a client abort');
is($fail->{location}, undef, 'no Location');
is($fail->{summary},
   'admin tried to create coSpace named "Nobody Home": no bridge answered',
   'its summary');

$t->sim('POST', '/_sim/reset');

# --- secrets, hostile bytes, inheritance, off

my $space2 = id_of(post($t->port('proxy'), '/api/v1/coSpaces',
    'name=Board&passcode=97531864&uri=board&secret=s3cr3t-value'
    . '&ownerPassword=hunter2')->{headers}{location});
ok($space2, 'coSpace with a passcode created');

my ($board) = grep { ($_->{params}{name} // '') eq 'Board' } records('audit.log', 13);
is_deeply($board->{params}, { name => 'Board', passcode => '***',
                              uri => 'board', secret => '***',
                              ownerPassword => '***' },
          'passcode, secret and a password-like name masked');
unlike($t->read_file('audit.log'), qr/97531864|s3cr3t-value|hunter2/,
       'their values are nowhere in the file');
is($board->{summary}, "admin created coSpace $space2 named \"Board\"",
   'create summary with the Location id');

post($t->port('proxy'), '/api/v1/coSpaces',
     'name=a%22b%5Cc%0Ad%01e%FFf%C3%A9&uri=odd');
my ($odd) = grep { ($_->{params}{uri} // '') eq 'odd' } records('audit.log', 14);
is($odd->{params}{name}, "a\"b\\c\nd\x01e\x{ff}f\x{e9}",
   'quotes, backslash, control bytes, a stray byte and UTF-8 all survive');

# without the slots plugin: the story from the parameters alone

{
    my $c = client($t->port('noslots'));
    $c->('PUT', "/api/v1/coSpaces/$space2",
         'name=Weekly&nonMemberAccess=true&secret=x');
    $c->('PUT', "/api/v1/coSpaces/$space2", 'name=Renamed');
    $c->('PUT', "/api/v1/coSpaces/$space2",
         'name=Board&nonMemberAccess=false');
    $c->('PUT', "/api/v1/coSpaces/$space2", 'uri=board2');

    my @n = records('noslots.log', 4);
    is_deeply([map { $_->{summary} } @n], [
        qq{admin opened coSpace $space2 as "Weekly"},
        qq{admin renamed coSpace $space2 to "Renamed"},
        qq{admin closed slot Board (coSpace $space2)},
        qq{admin modified coSpace $space2 (uri)},
    ], 'no slots plugin: what the parameters say');
    is_deeply([map { $_->{meeting} } @n], ['Weekly', 'Renamed', 'Board', undef],
              'meeting: the name the PUT sets');
    is_deeply([map { $_->{slot} } @n], [undef, undef, 'Board', undef],
              'slot: only the name a closing PUT gives back');
}

# the http level file has event records too (other plugins emit them)
sub named {
    my ($file, $name) = @_;
    for (1 .. 400) {
        my @r = grep { ($_->{params}{name} // '') eq $name }
                map { $json->decode($_) } lines($file);
        return @r if @r;
        sleep 0.025;
    }
    return ();
}

post($t->port('inherit'), '/api/v1/coSpaces', 'name=Inherited');
is(scalar(named('main.log', 'Inherited')), 1,
   'a server without cms_audit_log writes to the http level file');

post($t->port('off'), '/api/v1/coSpaces', 'name=Unaudited');
post($t->port('inherit'), '/api/v1/coSpaces', 'name=After Off');
named('main.log', 'After Off');
unlike(join('', map { $t->read_file($_) } qw(main.log audit.log all.log)),
       qr/Unaudited/, 'cms_audit_log off: no record anywhere');

# --- a denial by the policy plugin

{
    my $r = client($t->port('policy'))->('DELETE',
                                         "/api/v1/coSpaces/$space2");
    is($r->{status}, 403, 'policy denies the delete');

    my $g = client($t->port('policy'))->('GET', "/api/v1/coSpaces/$space2");
    is($g->{status}, 200, 'the coSpace is still there');

    my @p = records('policy.log', 1);
    is(scalar @p, 1, 'one record: the denial (the GET is a read)');
    is($p[0]{verdict}, 'deny', 'verdict deny');
    is($p[0]{plugin}, 'policy', 'decided by the policy plugin');
    is($p[0]{rule}, 'keep-spaces', 'by the rule keep-spaces');
    is($p[0]{status}, 403, 'status 403');
    like($p[0]{request_id}, qr/^[0-9a-f]{32}$/, 'its request_id');
    is($r->{headers}{'x-request-id'}, $p[0]{request_id},
       'the refusal carries the record\'s request_id in X-Request-Id');
    ok($r->{headers}{'x-cms-proxy-reason'}, 'next to its reason header');
    is($p[0]{bridge_status}, 0, 'no bridge saw it');
    is($p[0]{summary}, "admin tried to delete coSpace $space2: denied by "
       . 'policy rule keep-spaces (coSpaces are kept)', 'its summary');

    # scope=writes still records a denied read

    $r = client($t->port('policy'))->('GET', '/api/v1/callLegs');
    is($r->{status}, 403, 'policy denies a read');
    @p = records('policy.log', 2);
    is(join(' ', map { "$_->{method} $_->{operation} $_->{verdict}" } @p),
       'DELETE coSpace.delete deny GET callLeg.list deny',
       'the denied read is recorded though it is not a write');
}

# --- no credentials (the proxy injects the bridge's): an anonymous record

my $anon = $t->http('POST', $t->port('proxy'), '/api/v1/coSpaces',
                    body => 'name=Anonymous');
is($anon->{status}, 200, 'no client credentials, injected ones: 200');
my ($arec) = grep { ($_->{params}{name} // '') eq 'Anonymous' }
             records('audit.log', 15);
is($arec->{user}, undef, 'user null');
is($arec->{summary}, 'anonymous created coSpace '
   . id_of($anon->{headers}{location}) . ' named "Anonymous"',
   'an anonymous change, in words');

# --- reopen: USR1 after the file was renamed

my $before = lines('audit.log');
rename $t->dir . '/audit.log', $t->dir . '/audit.log.1' or die "rename: $!";
kill 'USR1', $t->{pids}{nginx};

# the master reopens first, the worker when it reads its channel: send
# until a record lands in the new file (a record sent before that is in
# the old file, and must not be lost either)

my $sent = 0;
for (1 .. 200) {
    post($t->port('proxy'), '/api/v1/coSpaces', 'name=Reopen+' . ++$sent);
    my $where;
    for (1 .. 400) {
        $where = grep({ /"Reopen $sent"/ } lines('audit.log')) ? 'new'
               : grep({ /"Reopen $sent"/ } lines('audit.log.1')) ? 'old'
               : undef;
        last if $where;
        sleep 0.025;
    }
    last if ($where // '') eq 'new';
}
for (1 .. 5) {
    post($t->port('proxy'), '/api/v1/coSpaces', 'name=Reopen+' . ++$sent);
}

sub reopen_records {
    return grep { ($_->{params}{name} // '') =~ /^Reopen / }
           map { $json->decode($_) } lines($_[0]);
}
for (1 .. 400) {
    last if reopen_records('audit.log') + reopen_records('audit.log.1')
            >= $sent;
    sleep 0.025;
}

my @new = map { $json->decode($_) } lines('audit.log');
my @old = map { $json->decode($_) } lines('audit.log.1');
my @reopen = grep { ($_->{params}{name} // '') =~ /^Reopen / } @old, @new;

is(scalar @reopen, $sent, "reopen: all $sent records, none lost");
is(scalar(grep { ($_->{params}{name} // '') =~ /^Reopen / } @old) + $before,
   scalar @old, 'the old file kept what it had');
is_deeply([map { $_->{params}{name} } @new[-5 .. -1]],
          [map { "Reopen $_" } $sent - 4 .. $sent],
          'the last records went to the new file');
my %ids = map { $_->{request_id} => 1 } @old, @new;
is(scalar keys %ids, @old + @new, 'no record written twice');

# --- reload in the middle of traffic: nothing lost, buffered or not
#
# A child sends the traffic, one request after the other, and says by its
# exit status whether every one got its 200.  It leaves with POSIX::_exit:
# a plain exit would run the harness's destructor in the child, which
# stops the nginx and the simulator the parent is testing.

my $n = 40;
my $gen0 = join ',', sort(workers($t->{pids}{nginx}));
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    my $bad = 0;
    for my $i (1 .. $n) {
        for my $r (post($t->port('proxy'), '/api/v1/coSpaces',
                        "name=Reload+$i"),
                   post($t->port('buffered'), '/api/v1/coSpaces',
                        "name=Buffered+$i"),
                   post($t->port('ring'), '/api/v1/coSpaces',
                        "name=Ring+$i")) {
            $bad++ if $r->{status} != 200;
        }
    }
    POSIX::_exit($bad ? 1 : 0);
}

# a reload is done when the master has workers of the new generation
sub reload_at {
    my ($name) = @_;
    for (1 .. 800) {
        last if grep { /"$name"/ } lines('audit.log');
        sleep 0.025;
    }
    my $master = $t->{pids}{nginx};
    my %old = map { $_ => 1 } workers($master);
    kill 'HUP', $master;
    for (1 .. 1200) {
        my @w = workers($master);
        return 1 if @w && !grep { $old{$_} } @w;
        sleep 0.025;
    }
    return 0;
}

ok(reload_at('Reload 10'), 'reload 1: new workers, the old ones gone');
ok(reload_at('Reload 25'), 'reload 2: new workers, the old ones gone');
waitpid($pid, 0);
is($?, 0, "traffic sent: all 3 x $n requests answered 200");
is(() = $t->error_log =~ /\[notice\] \d+#\d+: reconfiguring/g, 2,
   'the master reconfigured twice');

sub names {
    my ($file, $re) = @_;
    return map { $_->{params}{name} // () }
           grep { ($_->{params}{name} // '') =~ $re }
           map { $json->decode($_) } lines($file);
}

# one request after the other, written through: the file has them all,
# each once, in the order they were sent, across both reloads
is_deeply([names('audit.log', qr/^Reload /)],
          [map { "Reload $_" } 1 .. $n],
          "reload: the $n records of $n requests, each once, in order "
          . '(write-through)');

# buffered records reach the file when the old workers exit (flush at
# exit), the current worker's at the next reload or reopen: in the order
# the workers flush, which is not the order of the requests when an old
# and a new worker overlap; so each record once, none missing
kill 'USR1', $t->{pids}{nginx};
for (1 .. 800) {
    last if names('buffered.log', qr/^Buffered /) >= $n;
    sleep 0.025;
}
is_deeply([sort { ($a =~ /(\d+)/)[0] <=> ($b =~ /(\d+)/)[0] }
           names('buffered.log', qr/^Buffered /)],
          [map { "Buffered $_" } 1 .. $n],
          "reload: the $n records of $n requests, each once (buffered)");

# one shared ring for all workers, old and new: the records of the old
# workers written when they left, the rest at the reopen; each once, and
# in the order of the requests, whoever wrote them
for (1 .. 800) {
    last if names('ring.log', qr/^Ring /) >= $n;
    sleep 0.025;
}
is_deeply([names('ring.log', qr/^Ring /)], [map { "Ring $_" } 1 .. $n],
          "reload: the $n records of $n requests, each once, in order "
          . '(ring with flush=1h, across two reloads and a reopen)');

# --- every line of every file is one valid JSON object

for my $file (qw(audit.log audit.log.1 all.log buffered.log ring.log
                 main.log policy.log)) {
    my @l = lines($file);
    my $bad = grep { !eval { ref $json->decode($_) eq 'HASH' } } @l;
    is($bad, 0, "$file: all " . scalar(@l) . ' lines are JSON objects');
}

# --- configuration errors name the directive and the value

my @bad = (
    [ 'cms_audit_log x.log scope=some;', qr/invalid scope "some"/ ],
    [ 'cms_audit_log x.log buffer=0;', qr/invalid buffer size "0"/ ],
    [ 'cms_audit_log x.log buffer=4k flush=abc;',
      qr/invalid flush time "abc"/ ],
    [ 'cms_audit_log x.log flush=1s;', qr/"flush=" needs "buffer=" or "ring="/ ],
    [ 'cms_audit_log x.log size=1;', qr/invalid parameter "size=1"/ ],
    [ 'cms_audit_log syslog:server=1.2.3.4;', qr/not syslog/ ],
    [ 'cms_audit_log x$y.log;', qr/no variables in the file name "x\$y.log"/ ],
    [ 'cms_audit_log off x;', qr/takes no parameters, not "x"/ ],
    [ 'cms_audit_log x.log; cms_audit_log y.log;', qr/is duplicate/ ],
    [ 'cms_audit_log x.log buffer=4k; server { cms_audit_log x.log; }',
      qr/"x.log" already defined with other buffer=, ring= or flush=/ ],
    [ 'cms_audit_log x.log ring=1m; server { cms_audit_log x.log; }',
      qr/"x.log" already defined with other buffer=, ring= or flush=/ ],
    [ 'access_log x.log combined buffer=4k; cms_audit_log x.log buffer=4k;',
      qr/"x.log" with buffer= or ring= shares its file with another buffered/ ],
    [ 'cms_audit_log x.log buffer=4k; access_log x.log combined buffer=4k;',
      qr/x.log" with buffer= or ring= shares its file with another buffered/ ],
    [ 'access_log x.log combined buffer=4k; cms_audit_log x.log ring=1m;',
      qr/"x.log" with buffer= or ring= shares its file with another buffered/ ],
    [ 'cms_audit_log x.log ring=1k;', qr/invalid ring size "1k", at least 64k/ ],
    [ 'cms_audit_log x.log ring=1m buffer=4k;',
      qr/"buffer=" or "ring=" for "x.log", not both/ ],
);

for my $b (@bad) {
    my ($c, $re) = @$b;
    $t->write_conf(<<"EOF", 'bad.conf');
load_module $CmsTest::MODULE;
events {}
http {
    $c
}
EOF
    my ($ok, $out) = $t->nginx_t('bad.conf');
    ok(!$ok && $out =~ $re && $out =~ /cms_audit_log/,
       "config error: $c") or diag($out);
}

# --- kill -9 of a worker: what was written through survives, what sat
# in a buffer is lost (and stays lost: it is not written at exit either),
# what sat in a shared ring (ring=, even with flush=1h) is written by the
# worker the master starts in its place

my $kill_proxy = <<'EOF';
        location /api/v1/ {
            auth_basic "cms";
            auth_basic_user_file %%TESTDIR%%/htpasswd;
            cms_api on;
            cms_plugins audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }
EOF

(my $kill_conf = <<'EOF') =~ s/%%KILLPROXY%%\n/$kill_proxy/g;
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes 1;
pid %%TESTDIR%%/kill.pid;
# the master's alert about the killed worker belongs here, not in error.log
error_log %%TESTDIR%%/kill-error.log info;
events {}
http {
    access_log off;
    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }
    server {
        listen 127.0.0.1:%%PORT_through%%;
        cms_audit_log %%TESTDIR%%/kill-through.log;
%%KILLPROXY%%
    }
    server {
        listen 127.0.0.1:%%PORT_buffer%%;
        cms_audit_log %%TESTDIR%%/kill-buffered.log buffer=64k flush=1h;
%%KILLPROXY%%
    }
    server {
        listen 127.0.0.1:%%PORT_kring%%;
        cms_audit_log %%TESTDIR%%/kill-ring.log ring=64k flush=1h;
%%KILLPROXY%%
    }
    server {
        listen 127.0.0.1:%%PORT_kringpass%%;
        cms_audit_log %%TESTDIR%%/kill-ringpass.log ring=64k;
%%KILLPROXY%%
    }
}
EOF
$t->write_conf($kill_conf, 'kill.conf');

$t->run_nginx(conf => 'kill.conf', key => 'nginx_kill',
              pidfile => $t->dir . '/kill.pid',
              ports => [map { $t->port($_) }
                        qw(through buffer kring kringpass)]);

# against a live bridge: every one of these is a coSpace made
my @kill_status;
for my $i (1 .. 5) {
    for my $port (qw(through buffer kring kringpass)) {
        push @kill_status,
            post($t->port($port), '/api/v1/coSpaces',
                 "name=Kill+$i")->{status};
    }
}
is("@kill_status", join(' ', (200) x 20), 'the bridge made all 20 coSpaces');

my @through = wait_lines('kill-through.log', 5);
is(scalar @through, 5, 'write-through: 5 records in the file at once');
is(scalar(lines('kill-buffered.log')), 0, 'buffered: none yet (flush=1h)');
is(scalar(lines('kill-ring.log')), 0,
   'ring with flush=1h: none in the file yet, all 5 in the shared ring');
is_deeply([map { $json->decode($_)->{params}{name} }
           wait_lines('kill-ringpass.log', 5)],
          [map { "Kill $_" } 1 .. 5],
          'ring: written at the end of each event-loop pass, in order');

my $master = $t->{pids}{nginx_kill};
my @workers = workers($master);
is(scalar @workers, 1, 'one worker');
$t->allow_log(qr/ worker process $workers[0] exited on signal 9$/);
kill 'KILL', @workers;
for (1 .. 400) {
    my @w = workers($master);
    last if @w && $w[0] != $workers[0];
    sleep 0.025;
}

# before any stop (which writes rings too): the new worker's start did it
my @ring_now = wait_lines('kill-ring.log', 5);

$t->stop_nginx('nginx_kill');

is(scalar(lines('kill-through.log')), 5,
   'kill -9: every written-through record survived');
is(scalar(lines('kill-buffered.log')), 0,
   'kill -9: the buffered records were lost, as documented');
is(scalar @ring_now, 5,
   'kill -9: the worker started in place of the killed one wrote the '
   . "ring's 5 records at once");
is_deeply([map { $json->decode($_)->{params}{name} } lines('kill-ring.log')],
          [map { "Kill $_" } 1 .. 5],
          'kill -9: the ring kept all 5 records, each once, in order: '
          . 'the worker started in its place wrote them');
is(scalar(lines('kill-ringpass.log')), 5,
   'kill -9: the ring written at each pass has its 5 records, once each');
like($t->read_file('kill-error.log'), qr/exited on signal 9/,
     'the worker was indeed killed');

sub workers {
    my ($ppid) = @_;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        close $fh;
        push @w, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $ppid;
    }
    return @w;
}

$t->done;
