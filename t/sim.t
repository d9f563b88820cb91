#!/usr/bin/env perl
# Tests for the CMS cluster simulator t/sim/cms-sim: starts it on free
# loopback ports with two bridges (core2 over TLS) and checks its behaviour
# against the seed traces (seed 000: TMS session, seed 004: CMM move), the
# CMS API conventions, and every fault mode of the control API.
#
#   prove -v t/sim.t

use v5.36;
use Test::More;
use FindBin ();
use IO::Socket::INET;
use IO::Socket::SSL qw(SSL_VERIFY_NONE);
use Mojo::JSON qw(decode_json encode_json);
use Mojo::UserAgent;
use Mojo::Util qw(b64_encode);
use POSIX ();
use Time::HiRes qw(time sleep);

my $SIM  = "$FindBin::Bin/sim/cms-sim";
my $GUID = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;
my $DECL = qq{<?xml version="1.0"?>\n};

# --- start the simulator -----------------------------------------------------

# Free ports: bind port 0 three times at once (so they differ), then release.
my @holders = map { IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $! } 1 .. 3;
my ($CPORT, $P1, $P2) = map { $_->sockport } @holders;
close $_ for @holders;

# A plain pipe + fork rather than open '-|': closing a piped-open handle
# waits for the child, and Perl closes file-scoped handles before END runs.
pipe(my $sim_out, my $sim_w) or die "pipe: $!";
my $sim_pid = fork // die "fork: $!";
if ($sim_pid == 0) {
  close $sim_out;
  open STDOUT, '>&', $sim_w or POSIX::_exit(127);
  exec($^X, $SIM, '--control', "127.0.0.1:$CPORT",
    '--bridge', "name=core1,listen=127.0.0.1:$P1,user=admin,password=secret1",
    '--bridge', "name=core2,listen=127.0.0.1:$P2,user=admin2,password=secret2,tls=1", '--quiet')
    or POSIX::_exit(127);
}
close $sim_w;

sub stop_sim () {
  return undef unless $sim_pid;
  kill TERM => $sim_pid;
  waitpid $sim_pid, 0;
  my $status = $?;
  undef $sim_pid;
  return $status;
}
END { local $?; stop_sim() }

my $ready = eval {
  local $SIG{ALRM} = sub { die "timeout\n" };
  alarm 20;
  my $line = <$sim_out>;
  alarm 0;
  $line;
};
is $ready, "cms-sim ready\n", 'simulator prints "cms-sim ready"' or BAIL_OUT('simulator did not start');

# --- helpers -----------------------------------------------------------------

# Keep-alive for speed (TLS handshakes are costly); the fault tests use a
# client without connection reuse, since they close listeners and drop
# connections.
my $ua       = Mojo::UserAgent->new(insecure => 1, request_timeout => 10);
my $fresh_ua = Mojo::UserAgent->new(insecure => 1, request_timeout => 10, max_connections => 0);
our $UA = $ua;

my %BRIDGE = (
  core1 => {base => "http://127.0.0.1:$P1",  user => 'admin',  password => 'secret1'},
  core2 => {base => "https://127.0.0.1:$P2", user => 'admin2', password => 'secret2'},
);

# api(bridge, METHOD, path[, form body][, auth => 'user:pass' | undef])
sub api ($bridge, $method, $path, $body = undef, %opt) {
  my $br   = $BRIDGE{$bridge};
  my $auth = exists $opt{auth} ? $opt{auth} : "$br->{user}:$br->{password}";
  my %h;
  $h{Authorization}  = 'Basic ' . b64_encode($auth, '') if defined $auth;
  $h{'Content-Type'} = 'application/x-www-form-urlencoded' if defined $body;
  my $tx = $ua->build_tx($method => "$br->{base}$path" => \%h => defined $body ? ($body) : ());
  $tx = ($opt{ua} // $UA)->start($tx);
  return $tx->res;
}

sub control ($method, $path, $json = undef) {
  my $tx = $ua->build_tx($method => "http://127.0.0.1:$CPORT/_sim$path" => {} => defined $json ? (json => $json) : ());
  my $res = $ua->start($tx)->res;
  return ($res->code, $res->body eq '' ? undef : decode_json($res->body));
}

sub location_id ($res, $node) {
  my $loc = $res->headers->location // '';
  return $loc =~ m{\A/api/v1/\Q$node\E/($GUID)\z} ? $1 : undef;
}

sub failure ($reason) { "${DECL}<failureDetails><$reason /></failureDetails>" }

sub empty_ok ($res, $name) {
  is $res->code, 200, "$name: 200";
  is $res->body, '', "$name: empty body";
  is $res->headers->content_length, 0, "$name: Content-Length 0";
}

sub fault ($bridge, %f) {
  my ($code, $json) = control(PUT => "/bridges/$bridge/fault", \%f);
  is $code, 200, "fault $bridge -> " . encode_json(\%f) or diag explain $json;
}

sub tcp_connect ($port) { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 2) }

# --- authentication ------------------------------------------------------------

subtest 'authentication' => sub {
  for my $case (['no credentials', undef], ['wrong password', 'admin:wrong'], ['other bridge user', 'admin2:secret2']) {
    my $res = api(core1 => GET => '/api/v1/coSpaces', undef, auth => $case->[1]);
    is $res->code, 401, "$case->[0]: 401";
    is $res->headers->www_authenticate, 'Basic realm="acano"', "$case->[0]: realm acano";
    is $res->body, '', "$case->[0]: empty body";
    is $res->headers->content_length, 0, "$case->[0]: Content-Length 0";
  }
  is api(core2 => GET => '/api/v1/coSpaces')->code, 200, 'core2 accepts its own credentials over TLS';
};

# --- seed 000: the TMS session, replayed -------------------------------------------

my (%tms, $cool_item);
subtest 'seed 000: TMS adds the CMS cluster' => sub {
  my $res = api(core1 => GET => '/api/v1/system/status');
  is $res->code, 200, 'status 200';
  is $res->headers->content_type, 'text/xml', 'text/xml';
  like $res->body,
    qr{\A\Q$DECL\E<status><softwareVersion>[^<]+</softwareVersion><uptimeSeconds>\d+</uptimeSeconds><cdrTime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</cdrTime><activated>true</activated><clusterEnabled>true</clusterEnabled><callLegsActive>0</callLegsActive><callLegsMaxActive>\d+</callLegsMaxActive><callLegsCompleted>\d+</callLegsCompleted>.*</status>\z}s,
    'status elements in the order of the trace';

  $res = api(core1 => GET => '/api/v1/callBridges');
  my @bridges = $res->body =~ m{<callBridge id="($GUID)"><name>(CallBridge-core\d)</name></callBridge>}g;
  like $res->body, qr{\A\Q$DECL\E<callBridges total="2"><callBridge id=}, 'callBridges total=2';
  is_deeply [@bridges[1, 3]], ['CallBridge-core1', 'CallBridge-core2'], 'one entry per bridge';
  %tms = (cb1 => $bridges[0], cb2 => $bridges[2]);
  is api(core2 => GET => '/api/v1/callBridges')->body, $res->body, 'every bridge knows all others';
  for ([cb1 => "http://127.0.0.1:$P1", 'CallBridge-core1'], [cb2 => "https://127.0.0.1:$P2", 'CallBridge-core2']) {
    my ($key, $address, $name) = @$_;
    is api(core1 => GET => "/api/v1/callBridges/$tms{$key}")->body,
      qq{$DECL<callBridge id="$tms{$key}"><name>$name</name><address>$address</address><sipDomain></sipDomain></callBridge>},
      "callBridges/<id> detail of $name";
  }

  $res = api(core1 => POST => '/api/v1/callProfiles', 'participantLimit=1000&messageBoardEnabled=false');
  empty_ok($res, 'POST callProfiles');
  ok $tms{cp} = location_id($res, 'callProfiles'), 'Location /api/v1/callProfiles/<id>';
  is api(core1 => GET => "/api/v1/callProfiles/$tms{cp}")->body,
    qq{$DECL<callProfile id="$tms{cp}"><participantLimit>1000</participantLimit></callProfile>},
    'messageBoardEnabled (removed in 3.0) accepted and ignored';

  $res = api(core1 => POST => '/api/v1/callLegProfiles',
    'defaultLayout=telepresence&changeLayoutAllowed=true&presentationContributionAllowed=true&presentationViewingAllowed=true&muteSelfAllowed=true&videoMuteSelfAllowed=true'
  );
  empty_ok($res, 'POST callLegProfiles');
  ok $tms{clp} = location_id($res, 'callLegProfiles'), 'Location /api/v1/callLegProfiles/<id>';
  is api(core1 => GET => '/api/v1/callProfiles')->body, qq{$DECL<callProfiles total="1"><callProfile id="$tms{cp}"/></callProfiles>},
    'callProfiles list items are self-closed';

  $res = api(core1 => POST => '/api/v1/cospaceBulkParameterSets',
    "startIndex=1&endIndex=5&coSpaceUriMapping=&coSpaceNameMapping=TMS_Scheduled_Meeting_\$index\$&coSpaceCallIdMapping=&callProfile=$tms{cp}&callLegProfile=$tms{clp}&nonMemberAccess=false"
  );
  empty_ok($res, 'POST cospaceBulkParameterSets');
  ok $tms{set} = location_id($res, 'cospaceBulkParameterSets'), 'Location /api/v1/cospaceBulkParameterSets/<id>';

  $res = api(core1 => POST => '/api/v1/cospaceBulkSyncs', "cospaceBulkParameterSet=$tms{set}");
  empty_ok($res, 'POST cospaceBulkSyncs');
  ok $tms{sync} = location_id($res, 'cospaceBulkSyncs'), 'Location /api/v1/cospaceBulkSyncs/<id>';
  is api(core1 => GET => "/api/v1/cospaceBulkSyncs/$tms{sync}")->body,
    qq{$DECL<cospaceBulkSync id="$tms{sync}"><cospaceBulkParameterSet>$tms{set}</cospaceBulkParameterSet><status>complete</status></cospaceBulkSync>},
    'bulk sync detail exactly as in the trace';
  is api(core1 => GET => '/api/v1/system/status')->code, 200, 'status again';
};

subtest 'seed 000: TMS schedules, extends and ends a meeting' => sub {
  is api(core1 => GET => '/api/v1/participants')->body, qq{$DECL<participants total="0"></participants>},
    'empty participants list, as in trace 9497';

  my $list = api(core1 => GET => '/api/v1/coSpaces')->body;
  like $list, qr{\A\Q$DECL\E<coSpaces total="7">}, '2 fixture spaces + 5 slots';
  ($cool_item) = $list =~ m{(<coSpace id="2be23a10-f400-4436-baef-6058f55ca688">.*?</coSpace>)};
  is $cool_item,
    '<coSpace id="2be23a10-f400-4436-baef-6058f55ca688"><name>Cool Bridge Space</name><autoGenerated>false</autoGenerated><uri>cool.bridge.space</uri><callId>497540167</callId></coSpace>',
    'fixture list item as in trace 9503';
  my %slot = reverse $list =~ m{<coSpace id="($GUID)"><name>(TMS_Scheduled_Meeting_\d)</name><autoGenerated>false</autoGenerated></coSpace>}g;
  is_deeply [sort keys %slot], [map {"TMS_Scheduled_Meeting_$_"} 1 .. 5], 'five slots, name from the mapping, no uri/callId';
  my $space = $tms{space} = $slot{TMS_Scheduled_Meeting_1};
  like api(core1 => GET => "/api/v1/coSpaces/$space")->body, qr{<nonMemberAccess>false</nonMemberAccess>},
    'slot inherits nonMemberAccess=false from the set';

  my $start = '&nonMemberAccess=true&passcode=&name=Tim Kratzke Acano TMSXE Test Meeting&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a';
  my $res = api(core1 => PUT => "/api/v1/cospaces/$space", $start);
  empty_ok($res, 'PUT /cospaces/<id> (lower-case node, leading "&")');
  ok !defined $res->headers->location, 'no Location on PUT';
  is api(core1 => GET => "/api/v1/coSpaces/$space")->body,
    qq{$DECL<coSpace id="$space"><name>Tim Kratzke Acano TMSXE Test Meeting</name><autoGenerated>false</autoGenerated><callProfile>$tms{cp}</callProfile><callLegProfile>$tms{clp}</callLegProfile><nonMemberAccess>true</nonMemberAccess><secret>86db1bdd-5cf7-4ea8-b88d-479195f4701a</secret></coSpace>},
    'space detail after the PUT (no passcode shown)';

  $res = api(core1 => POST => '/api/v1/calls', "coSpace=$space");
  empty_ok($res, 'POST calls');
  my $call = $tms{call} = location_id($res, 'calls');
  ok $call, 'Location /api/v1/calls/<id>';
  like api(core1 => GET => '/api/v1/calls')->body,
    qr{\A\Q$DECL\E<calls total="1"><call id="$call"><name>Tim Kratzke Acano TMSXE Test Meeting</name><coSpace>$space</coSpace><callCorrelator>$GUID</callCorrelator></call></calls>\z},
    'calls list as in trace 9504';
  is api(core1 => GET => '/api/v1/calllegs')->body, qq{$DECL<callLegs total="0"></callLegs>}, 'GET /calllegs (lower case)';

  $res = api(core1 => POST => "/api/v1/calls/$call/calllegs", 'remoteParty=desk.ex90@tkratzke.local');
  empty_ok($res, 'POST /calls/<id>/calllegs');
  my $leg = location_id($res, 'callLegs');
  ok $leg, 'Location is the canonical /api/v1/callLegs/<id>';
  like api(core1 => GET => "/api/v1/callLegs/$leg")->body,
    qr{<callLeg id="$leg"><name>desk\.ex90\@tkratzke\.local</name><remoteParty>desk\.ex90\@tkratzke\.local</remoteParty>.*<call>$call</call><type>sip</type><direction>outgoing</direction><canMove>true</canMove>.*<status><state>connected</state>}s,
    'call leg detail';
  like api(core1 => GET => "/api/v1/participants/$leg")->body, qr{<participant id="$leg"><call>$call</call><numCallLegs>1</numCallLegs>},
    'the dial-out has a participant with the same id (seed 004 log)';
  like api(core1 => GET => '/api/v1/system/status')->body, qr{<callLegsActive>1</callLegsActive><callLegsMaxActive>1</callLegsMaxActive>},
    'status counts the active leg';
  like api(core1 => GET => "/api/v1/calls/$call")->body,
    qr{<call id="$call"><name>[^<]+</name><callType>coSpace</callType><coSpace>$space</coSpace><callCorrelator>$GUID</callCorrelator><durationSeconds>\d+</durationSeconds><numCallLegs>1</numCallLegs>.*<numParticipantsLocal>1</numParticipantsLocal><numParticipantsRemote>0</numParticipantsRemote><numDistributedInstances>0</numDistributedInstances>}s,
    'call detail';

  empty_ok(api(core1 => PUT => "/api/v1/cospaces/$space", $start), 'extend: same PUT again');

  $res = api(core1 => PUT => "/api/v1/cospaces/$space", '&nonMemberAccess=false&passcode=&name=TMS_Scheduled_Meeting_1&regenerateSecret=true');
  empty_ok($res, 'end: PUT placeholder back');
  my $detail = api(core1 => GET => "/api/v1/coSpaces/$space")->body;
  like $detail, qr{<name>TMS_Scheduled_Meeting_1</name>.*<nonMemberAccess>false</nonMemberAccess>}s, 'placeholder restored';
  my ($secret) = $detail =~ m{<secret>([^<]+)</secret>};
  ok $secret && $secret ne '86db1bdd-5cf7-4ea8-b88d-479195f4701a', "regenerateSecret changed the secret ($secret)";

  empty_ok(api(core1 => DELETE => "/api/v1/calls/$call"), 'DELETE call');
  is api(core1 => GET => '/api/v1/calls')->body, qq{$DECL<calls total="0"></calls>}, 'no call left';
  is api(core1 => GET => "/api/v1/callLegs/$leg")->body, failure('callLegDoesNotExist'), 'its legs are gone';
  like api(core1 => GET => '/api/v1/system/status')->body, qr{<callLegsActive>0</callLegsActive><callLegsMaxActive>1</callLegsMaxActive><callLegsCompleted>1</callLegsCompleted>},
    'the leg counts as completed';
};

# --- conventions -------------------------------------------------------------------

subtest 'paths, errors and failureDetails bytes' => sub {
  my $res = api(core1 => GET => '/api/v1/coSpaces/00000000-0000-4000-8000-000000000000');
  is $res->code, 404, 'unknown coSpace id: 404';
  is $res->body, qq{<?xml version="1.0"?>\n<failureDetails><coSpaceDoesNotExist /></failureDetails>}, 'exact failureDetails bytes';
  is $res->headers->content_type, 'text/xml', 'failureDetails is text/xml';

  my %missing = (
    calls => 'callDoesNotExist', callLegs => 'callLegDoesNotExist', participants => 'participantDoesNotExist',
    callProfiles => 'callProfileDoesNotExist', callLegProfiles => 'callLegProfileDoesNotExist',
    callBridges => 'callBridgeDoesNotExist', cospaceBulkParameterSets => 'cospaceBulkParameterSetDoesNotExist',
  );
  for my $node (sort keys %missing) {
    $res = api(core1 => GET => "/api/v1/$node/nope");
    is $res->code . ' ' . $res->body, '404 ' . failure($missing{$node}), "$node/<unknown>: 404 $missing{$node}";
  }

  is api(core1 => GET => '/API/V1/COSPACES/?limit=1')->code, 200, 'case-insensitive path, trailing slash';
  like api(core1 => GET => '/api/v1/coSpaces?LIMIT=1')->body, qr{total="7"><coSpace id="[^"]+">.*?</coSpace></coSpaces>\z},
    'query parameter names are case-insensitive';

  $res = api(core1 => GET => '/api/v1/noSuchNode');
  is $res->code . ' ' . $res->body, '400 ' . failure('unrecognizedObject'), 'unknown node: 400 unrecognizedObject';
  $res = api(core1 => DELETE => '/api/v1/coSpaces');
  is $res->code . ' ' . $res->body, '405 ' . failure('invalidOperation'), 'DELETE on a collection: 405 invalidOperation';
  $res = api(core1 => GET => '/index.html');
  is $res->code . ' [' . $res->body . ']', '404 []', 'outside /api/v1: plain 404';

  $res = api(core1 => POST => '/api/v1/calls', 'coSpace=00000000-0000-4000-8000-000000000000');
  is $res->code . ' ' . $res->body, '400 ' . failure('coSpaceDoesNotExist'), 'bad reference in a body: 400 DoesNotExist';
  $res = api(core1 => POST => '/api/v1/coSpaces', 'name=x&callProfile=nope');
  is $res->code . ' ' . $res->body, '400 ' . failure('callProfileDoesNotExist'), 'bad callProfile reference';
  $res = api(core1 => POST => '/api/v1/cospaceBulkSyncs', 'cospaceBulkParameterSet=nope');
  is $res->code . ' ' . $res->body, '400 ' . failure('cospaceBulkParameterSetDoesNotExist'), 'bad parameter set reference';

  $res = api(core1 => POST => '/api/v1/calls', 'coSpace=2be23a10-f400-4436-baef-6058f55ca688');
  my $call = location_id($res, 'calls');
  $res = api(core1 => POST => "/api/v1/calls/$call/callLegs", '&&bandwidth=2000000&');
  is $res->code . ' ' . $res->body,
    qq{400 $DECL<failureDetails><parameterError parameter="remoteParty" error="missing" /></failureDetails>},
    'missing remoteParty: parameterError';
  $res = api(core1 => POST => '/api/v1/coSpaces', 'name=x&nonMemberAccess=maybe');
  like $res->body, qr{<parameterError parameter="nonMemberAccess" error="invalidValue" />}, 'invalid boolean: parameterError';
  $res = api(core1 => POST => '/api/v1/cospaceBulkParameterSets', 'startIndex=1&endIndex=2000');
  like $res->code . ' ' . $res->body, qr{^400 .*<parameterError parameter="endIndex" error="outOfRange" />}s, 'bulk range too large';
  empty_ok(api(core1 => DELETE => "/api/v1/calls/$call"), 'cleanup call');

  $res = api(core1 => POST => '/api/v1/coSpaces', 'name=Caf%C3%A9+%26+%3Cfriends%3E&uri=Cafe.Friends&callId=12345&passcode=4321&unknownThing=1');
  empty_ok($res, 'POST coSpaces with escapes and an unknown parameter');
  my $id = location_id($res, 'coSpaces');
  ok $id, 'Location /api/v1/coSpaces/<id>';
  my $detail = api(core1 => GET => "/api/v1/coSpaces/$id")->body;
  like $detail, qr{<name>Caf\xC3\xA9 &amp; &lt;friends&gt;</name><autoGenerated>false</autoGenerated><uri>cafe\.friends</uri><callId>12345</callId>},
    'UTF-8 bytes kept, XML escaped, uri stored lower-case';
  unlike $detail, qr{passcode}, 'passcode never shown';
  like $detail, qr{<secret>[A-Za-z0-9_-]{22}</secret>}, 'a space with a callId gets a secret';
  $res = api(core1 => POST => '/api/v1/coSpaces', 'name=dup&uri=CAFE.FRIENDS');
  is $res->code . ' ' . $res->body, '400 ' . failure('duplicateCoSpaceUri'), 'duplicate uri';
  $res = api(core1 => POST => '/api/v1/coSpaces', 'name=dup&callId=12345');
  is $res->code . ' ' . $res->body, '400 ' . failure('duplicateCoSpaceId'), 'duplicate callId';
  empty_ok(api(core1 => PUT => "/api/v1/coSpaces/$id", 'uri=&callId='), 'empty values unset fields');
  unlike api(core1 => GET => "/api/v1/coSpaces/$id")->body, qr{<uri>|<callId>}, 'uri and callId unset';
  empty_ok(api(core1 => DELETE => "/api/v1/coSpaces/$id"), 'DELETE coSpace');
  is api(core1 => GET => "/api/v1/coSpaces/$id")->body, failure('coSpaceDoesNotExist'), 'gone after DELETE';
};

subtest 'paging, total and filters' => sub {
  my $body = api(core1 => GET => '/api/v1/coSpaces?offset=1&limit=2')->body;
  like $body, qr{<coSpaces total="7">}, 'total is the number of matches, not the page';
  is scalar(() = $body =~ /<coSpace id=/g), 2, 'limit=2 gives 2 items';
  is api(core1 => GET => '/api/v1/coSpaces?offset=100')->body, qq{$DECL<coSpaces total="7"></coSpaces>},
    'offset past the end: no items, right total';
  like api(core1 => GET => '/api/v1/coSpaces?filter=tms_SCHEDULED')->body, qr{total="5"}, 'filter: case-insensitive substring of the name';
  like api(core1 => GET => '/api/v1/coSpaces?FILTER=497540167')->body, qr{\A\Q$DECL\E<coSpaces total="1">\Q$cool_item\E</coSpaces>\z},
    'filter matches the callId';
  like api(core1 => GET => '/api/v1/coSpaces?filter=dev_TEAM')->body, qr{total="1"><coSpace id="f4c9601b}, 'filter matches the uri';

  my ($code) = control(PUT => '/config', {page_size => 3});
  is $code, 200, 'page size set to 3';
  $body = api(core1 => GET => '/api/v1/coSpaces?limit=5')->body;
  is scalar(() = $body =~ /<coSpace id=/g), 3, 'min(limit, page size)';
  like $body, qr{total="7"}, 'total unchanged';
  control(PUT => '/config', {page_size => 10});

  my $call = location_id(api(core1 => POST => '/api/v1/calls', "coSpace=$tms{space}"), 'calls');
  api(core1 => POST => "/api/v1/calls/$call/callLegs", "remoteParty=$_") for qw(alice@example.com bob@example.com);
  like api(core1 => GET => '/api/v1/callLegs?filter=ALICE')->body, qr{total="1"><callLeg id="$GUID"><name>alice\@example\.com</name>},
    'callLegs filter';
  like api(core1 => GET => '/api/v1/participants?filter=bob')->body, qr{total="1"><participant id="$GUID"><name>bob\@example\.com</name><call>$call</call></participant>},
    'participants filter';
  like api(core1 => GET => "/api/v1/calls?coSpaceFilter=$tms{space}")->body, qr{total="1"}, 'calls coSpaceFilter';
  like api(core1 => GET => "/api/v1/calls?coSpacefilter=$tms{cp}")->body, qr{total="0"}, 'coSpacefilter (odd case) is honoured';
  empty_ok(api(core1 => DELETE => "/api/v1/calls/$call"), 'cleanup');
};

# --- cluster ---------------------------------------------------------------------------

subtest 'cluster: shared database, per-bridge calls' => sub {
  is api(core2 => GET => '/api/v1/coSpaces')->body, api(core1 => GET => '/api/v1/coSpaces')->body, 'same coSpaces on both bridges';
  my $res   = api(core2 => POST => '/api/v1/coSpaces', 'name=Made on core2');
  my $space = location_id($res, 'coSpaces');
  like api(core1 => GET => "/api/v1/coSpaces/$space")->body, qr{<name>Made on core2</name>}, 'a space made on core2 is visible on core1';

  my $call = location_id(api(core1 => POST => '/api/v1/calls', "coSpace=$space"), 'calls');
  ok $call, 'call created on core1';
  is api(core1 => GET => "/api/v1/calls/$call")->code, 200, 'core1 knows it';
  $res = api(core2 => GET => "/api/v1/calls/$call");
  is $res->code . ' ' . $res->body, '404 ' . failure('callDoesNotExist'), 'core2: 404 callDoesNotExist';
  like api(core2 => GET => '/api/v1/calls')->body, qr{total="0"}, 'core2 does not list it';
  is api(core2 => DELETE => "/api/v1/calls/$call")->code, 404, 'core2 cannot delete it';
  $res = api(core2 => POST => "/api/v1/calls/$call/callLegs", 'remoteParty=x@example.com');
  is $res->code . ' ' . $res->body, '404 ' . failure('callDoesNotExist'), 'core2 cannot add legs to it';
  my $leg = location_id(api(core1 => POST => "/api/v1/calls/$call/callLegs", 'remoteParty=x@example.com'), 'callLegs');
  is api(core2 => GET => "/api/v1/callLegs/$leg")->body, failure('callLegDoesNotExist'), 'call leg is local to core1';
  is api(core2 => GET => "/api/v1/participants/$leg")->body, failure('participantDoesNotExist'), 'participant is local to core1';
  like api(core2 => GET => '/api/v1/system/status')->body, qr{<callLegsActive>0</callLegsActive>}, 'core2 status counts its own legs';
  like api(core1 => GET => '/api/v1/system/status')->body, qr{<callLegsActive>1</callLegsActive>}, 'core1 status counts its leg';

  # A second instance of the same space on core2 makes a distributed call:
  # same callCorrelator, and core2 sees core1's participant with <callBridge>.
  my $call2 = location_id(api(core2 => POST => '/api/v1/calls', "coSpace=$space"), 'calls');
  my ($c1) = api(core1 => GET => "/api/v1/calls/$call")->body =~ m{<callCorrelator>($GUID)</callCorrelator>};
  my ($c2) = api(core2 => GET => "/api/v1/calls/$call2")->body =~ m{<callCorrelator>($GUID)</callCorrelator>};
  is $c2, $c1, 'distributed instances share the callCorrelator';
  like api(core2 => GET => "/api/v1/calls/$call2/participants")->body,
    qr{<participant id="$leg"><name>x\@example\.com</name><call>$call2</call><callBridge>$tms{cb1}</callBridge></participant>},
    'remote participant listed with its callBridge';
  like api(core2 => GET => "/api/v1/calls/$call2")->body, qr{<numParticipantsLocal>0</numParticipantsLocal><numParticipantsRemote>1</numParticipantsRemote><numDistributedInstances>1</numDistributedInstances>},
    'call detail counts the remote participant';
  is api(core2 => DELETE => "/api/v1/participants/$leg")->body, failure('participantCannotBeDeleted'), 'a remote participant cannot be deleted';
  empty_ok(api(core2 => DELETE => "/api/v1/calls/$call2"), 'end the core2 instance');
  empty_ok(api(core1 => DELETE => "/api/v1/calls/$call"), 'end the core1 call');
  empty_ok(api(core1 => DELETE => "/api/v1/coSpaces/$space"), 'delete the space from core1');
};

subtest 'seed 004: CMM moves a web app participant to a call on another bridge' => sub {
  my $call_a = location_id(api(core1 => POST => '/api/v1/calls', 'coSpace=2be23a10-f400-4436-baef-6058f55ca688'), 'calls');
  my $call_b = location_id(api(core2 => POST => '/api/v1/calls', 'coSpace=f4c9601b-300e-43ac-a283-3e1a00699c2c'), 'calls');
  my ($code, $json) = control(POST => '/participants', {bridge => 'core1', call => $call_a, name => 'User X', canMove => Mojo::JSON::true});
  is $code, 200, 'guest "User X" joins call A on core1';
  my $old = $json->{id};
  like api(core1 => GET => "/api/v1/participants/$old")->body, qr{<name>User X</name>.*<canMove>true</canMove>}s, 'canMove true';

  my $res = api(core1 => POST => "/api/v1/calls/$call_b/participants", "movedParticipant=$old&needsActivation=false");
  is $res->code . ' ' . $res->body, '404 ' . failure('callDoesNotExist'), 'the move must go to the bridge hosting the target call';

  $res = api(core2 => POST => "/api/v1/calls/$call_b/participants/", "movedParticipant=$old&needsActivation=false");
  empty_ok($res, 'POST /calls/<B>/participants/ movedParticipant=... on core2');
  my $new = location_id($res, 'participants');
  ok $new, 'Location /api/v1/participants/<new id>';
  isnt $new, $old, 'the moved participant has a new id';
  like api(core2 => GET => "/api/v1/participants/$new")->body,
    qr{<participant id="$new"><call>$call_b</call><numCallLegs>1</numCallLegs><name>User X</name>.*<canMove>true</canMove><movedParticipant>$old</movedParticipant><movedParticipantCallBridge>$tms{cb1}</movedParticipantCallBridge>}s,
    'new participant records where it came from';
  like api(core2 => GET => "/api/v1/callLegs/$new")->body, qr{<movedCallLeg>$old</movedCallLeg><movedCallLegCallBridge>$tms{cb1}</movedCallLegCallBridge>},
    'and so does its call leg';
  is api(core1 => GET => "/api/v1/participants/$old")->body, failure('participantDoesNotExist'), 'old participant gone from core1';
  like api(core1 => GET => "/api/v1/calls/$call_a/participants")->body, qr{total="0"}, 'call A is empty';

  ($code, $json) = control(POST => '/participants', {bridge => 'core1', call => $call_a, name => 'Stuck', canMove => Mojo::JSON::false});
  $res = api(core2 => POST => "/api/v1/calls/$call_b/participants", "movedParticipant=$json->{id}");
  is $res->code . ' ' . $res->body, '400 ' . failure('participantCannotBeMoved'), 'canMove=false: participantCannotBeMoved';
  ($code) = control(PUT => "/participants/$json->{id}", {canMove => Mojo::JSON::true});
  is $code, 200, 'control: canMove switched on';
  is api(core2 => POST => "/api/v1/calls/$call_b/participants", "movedParticipant=$json->{id}")->code, 200, 'now it moves';
  $res = api(core2 => POST => "/api/v1/calls/$call_b/participants", 'movedParticipant=00000000-0000-4000-8000-000000000000');
  is $res->code . ' ' . $res->body, '400 ' . failure('participantDoesNotExist'), 'unknown participant: participantDoesNotExist';

  api(core1 => DELETE => "/api/v1/calls/$call_a");
  api(core2 => DELETE => "/api/v1/calls/$call_b");
};

subtest 'bulk re-sync recreates the slots with new ids' => sub {
  my $before = api(core1 => GET => '/api/v1/coSpaces?filter=TMS_Scheduled')->body;
  my @old    = $before =~ /<coSpace id="($GUID)">/g;
  is scalar @old, 5, 'five slots before';
  my $sync = location_id(api(core2 => POST => '/api/v1/cospaceBulkSyncs', "cospaceBulkParameterSet=$tms{set}"), 'cospaceBulkSyncs');
  like api(core1 => GET => "/api/v1/cospaceBulkSyncs/$sync")->body, qr{<status>complete</status>}, 'sync complete (shared database)';
  my @new = api(core1 => GET => '/api/v1/coSpaces?filter=TMS_Scheduled')->body =~ /<coSpace id="($GUID)">/g;
  is scalar @new, 5, 'five slots after';
  my %old = map { $_ => 1 } @old;
  ok !(grep { $old{$_} } @new), 'all with new ids';
  is api(core1 => GET => "/api/v1/coSpaces/$old[0]")->code, 404, 'old slot ids are gone';
  like api(core1 => GET => '/api/v1/cospaceBulkSyncs')->body, qr{\A\Q$DECL\E<cospaceBulkSyncs total="2"><cospaceBulkSync id=}, 'sync list';

  my ($code) = control(PUT => '/config', {sync_delay_ms => 300});
  empty_ok(api(core1 => PUT => "/api/v1/cospaceBulkParameterSets/$tms{set}", 'endIndex=3&coSpaceUriMapping=tms.slot.$index$'), 'PUT set');
  $sync = location_id(api(core1 => POST => '/api/v1/cospaceBulkSyncs', "cospaceBulkParameterSet=$tms{set}"), 'cospaceBulkSyncs');
  like api(core1 => GET => "/api/v1/cospaceBulkSyncs/$sync")->body, qr{<status>running</status>}, 'running during sync_delay_ms';
  like api(core1 => GET => '/api/v1/coSpaces?filter=TMS_Scheduled')->body, qr{total="5"}, 'old slots still there meanwhile';
  sleep 0.4;
  like api(core1 => GET => "/api/v1/cospaceBulkSyncs/$sync")->body, qr{<status>complete</status>}, 'complete after the delay';
  like api(core1 => GET => '/api/v1/coSpaces?filter=tms.slot')->body,
    qr{total="3"><coSpace id="$GUID"><name>TMS_Scheduled_Meeting_1</name><autoGenerated>false</autoGenerated><uri>tms\.slot\.1</uri></coSpace>},
    'three slots with URIs from the new mapping';
  control(PUT => '/config', {sync_delay_ms => 0});

  $sync = location_id(api(core1 => POST => '/api/v1/cospaceBulkSyncs', "cospaceBulkParameterSet=$tms{set}&removeAll=true"), 'cospaceBulkSyncs');
  like api(core1 => GET => "/api/v1/cospaceBulkSyncs/$sync")->body, qr{<status>complete</status><removeAll>true</removeAll>}, 'removeAll sync';
  like api(core1 => GET => '/api/v1/coSpaces')->body, qr{total="2"}, 'only the fixture spaces remain';
};

# --- faults ------------------------------------------------------------------------------

subtest 'faults' => sub {
  local $UA = $fresh_ua;
  ok tcp_connect($P1), 'core1 accepts TCP connections';
  fault(core1 => mode => 'refuse');
  my $sock = tcp_connect($P1);
  my $refused = !$sock && $!{ECONNREFUSED};
  ok $refused, 'refuse: a real TCP connect is refused (ECONNREFUSED)';
  is api(core2 => GET => '/api/v1/system/status')->code, 200, 'the other bridge still answers';
  fault(core1 => mode => 'none');
  ok tcp_connect($P1), 'none: listening again on the same port';
  is api(core1 => GET => '/api/v1/system/status')->code, 200, 'and serving';

  fault(core1 => mode => 'hang');
  my $short = Mojo::UserAgent->new(request_timeout => 1, max_connections => 0);
  my $t0    = time;
  my $res   = api(core1 => GET => '/api/v1/coSpaces', undef, ua => $short);
  my $took  = time - $t0;
  ok !$res->code, 'hang: no response';
  ok $took >= 0.9 && $took < 3, sprintf 'hang: the client times out after its own 1 s (%.2fs)', $took;
  fault(core1 => mode => 'none');
  is api(core1 => GET => '/api/v1/system/status')->code, 200, 'none: answering again';

  fault(core1 => mode => 'status', status => 503);
  $res = api(core1 => GET => '/api/v1/coSpaces');
  is $res->code, 503, 'status: 503';
  is $res->body, '', '503 has an empty body';
  ok !defined $res->headers->content_type, '503 has no Content-Type';

  fault(core1 => mode => 'status', status => 429, path => 'coSpaces');
  is api(core1 => GET => '/api/v1/coSpaces')->code, 429, 'path regex: matching path gets the fault';
  is api(core1 => GET => '/api/v1/callBridges')->code, 200, 'path regex: other paths are served normally';

  fault(core1 => mode => 'slow', delay_ms => 300);
  $t0  = time;
  $res = api(core1 => GET => '/api/v1/coSpaces');
  $took = time - $t0;
  is $res->code, 200, 'slow: answers normally';
  ok $took >= 0.3, sprintf 'slow: after the delay (%.2fs)', $took;

  fault(core1 => mode => 'garbage');
  $res = api(core1 => GET => '/api/v1/coSpaces');
  is $res->code . ' ' . $res->headers->content_type, '200 text/xml', 'garbage: 200 text/xml';
  unlike $res->body, qr{</coSpaces>\z}, 'garbage: not a complete document';

  my %first = (
    billion_laughs => qr{\A\Q$DECL\E<!DOCTYPE coSpaces \[<!ENTITY lol0 "lol"><!ENTITY lol1 "&lol0;&lol0;},
    xxe            => qr{\A\Q$DECL\E<!DOCTYPE x \[<!ENTITY e SYSTEM "file:///etc/passwd">\]>},
    deep           => qr{\A\Q$DECL\E<coSpaces total="1">(?:<a>){1000}},
    doctype        => qr{\A\Q$DECL\E<!DOCTYPE coSpaces>},
    bad_utf8       => qr{\A\Q$DECL\E<coSpaces total="1">},
    huge           => qr{\A\Q$DECL\E<coSpaces total="\d+"><coSpace id=},
  );
  for my $kind (sort { ($a eq 'huge') <=> ($b eq 'huge') || $a cmp $b } keys %first) {    # huge last
    fault(core1 => mode => 'hostile', kind => $kind, size => 1_000_000);
    $res = api(core1 => GET => '/api/v1/coSpaces');
    is $res->code . ' ' . $res->headers->content_type, '200 text/xml', "hostile $kind: 200 text/xml";
    like substr($res->body, 0, 4000), $first{$kind}, "hostile $kind: first bytes";
  }
  is length($res->body), 1_000_000, 'huge: exactly size bytes';
  is $res->headers->content_length, 1_000_000, 'huge: Content-Length';
  like $res->body, qr{</coSpace> *</coSpaces>\z}, 'huge: a complete document';
  fault(core1 => mode => 'hostile', kind => 'bad_utf8');
  my $bytes = api(core1 => GET => '/api/v1/coSpaces')->body;
  ok !utf8::decode($bytes), 'bad_utf8: the body is not valid UTF-8';
  fault(core1 => mode => 'hostile', kind => 'deep');
  $bytes = api(core1 => GET => '/api/v1/coSpaces')->body;
  is scalar(() = $bytes =~ m{<a>}g), 100_000, 'deep: 100000 levels';
  like $bytes, qr{</a></coSpaces>\z}, 'deep: well closed';

  my ($code, $json) = control(PUT => '/bridges/core1/fault', {mode => 'explode'});
  is $code, 400, 'unknown fault mode rejected';
  fault(core1 => mode => 'none');

  my $ssl = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $P2, SSL_verify_mode => SSL_VERIFY_NONE);
  ok $ssl, 'TLS handshake with core2';
  like $ssl ? $ssl->peer_certificate('subject') : '', qr{CN\s*=\s*localhost}, 'self-signed certificate for CN=localhost';
  like api(core2 => GET => '/api/v1/system/status')->body, qr{<clusterEnabled>true</clusterEnabled>}, 'core2 answers over https';
};

subtest 'credentials and the request log' => sub {
  my ($code) = control(DELETE => '/requests');
  is $code, 200, 'log cleared';
  my (undef, $log) = control(GET => '/requests');
  is_deeply $log, [], 'log empty';

  ($code) = control(PUT => '/bridges/core1/credentials', {user => 'tms', password => 'n3w'});
  is api(core1 => GET => '/api/v1/coSpaces')->code, 401, 'old credentials rejected';
  is api(core1 => GET => '/api/v1/coSpaces', undef, auth => 'tms:n3w')->code, 200, 'new credentials accepted';

  my $body = '&nonMemberAccess=true&passcode=&name=Tim Kratzke&secret=x';
  api(core1 => PUT => '/api/v1/cospaces/2be23a10-f400-4436-baef-6058f55ca688?a=%41', $body, auth => 'tms:n3w');
  api(core2 => GET => '/api/v1/callBridges');

  ($code, $log) = control(GET => '/requests?bridge=core1');
  is scalar @$log, 3, 'three requests on core1, the 401 included';
  is $log->[0]{headers}{authorization}, 'Basic ' . b64_encode('admin:secret1', ''), 'recorded before the auth check';
  my $put = $log->[2];
  is $put->{method}, 'PUT', 'method';
  is $put->{path}, '/api/v1/cospaces/2be23a10-f400-4436-baef-6058f55ca688?a=%41', 'raw path and query';
  is $put->{body}, $body, 'raw body';
  is $put->{headers}{'content-type'}, 'application/x-www-form-urlencoded', 'header names lower-cased';
  ok $put->{ts} > 0, 'timestamp';
  ($code, $log) = control(GET => '/requests');
  is_deeply [map { $_->{bridge} } @$log], [qw(core1 core1 core1 core2)], 'all bridges, in order';

  ($code) = control(POST => '/reset');
  is $code, 200, 'reset';
  is api(core1 => GET => '/api/v1/coSpaces')->code, 200, 'reset restores the command-line credentials';
  my (undef, $state) = control(GET => '/state');
  is scalar @{$state->{coSpaces}}, 2, 'reset restores the fixture';
  is $state->{coSpaces}[0]{name}, 'Cool Bridge Space', 'state dump';
  ok $state->{coSpaces}[0]{nonMemberAccess}, 'booleans are JSON booleans';
  is $state->{bridges}{core2}{id}, $tms{cb2}, 'per-bridge state';
  my (undef, $health) = control(GET => '/health');
  ok $health->{ok}, 'health';
};

subtest 'SIGTERM' => sub {
  my $t0     = time;
  my $status = stop_sim();
  is $status, 0, 'the simulator exits cleanly (status 0) on SIGTERM';
  ok time - $t0 < 5, 'promptly';
  ok !tcp_connect($P1), 'its ports are closed';
};

done_testing;
