#!/usr/bin/env perl

# The module as a transparent, understanding proxy: classification
# variables, pass-through of statuses and headers, credential injection
# per bridge, and clear CMS-style answers to bad input.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use MIME::Base64;
use CmsTest;
use CmsSeed qw(id_of);

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    log_format cms '$request_method $uri op=$cms_operation '
                   'coll=$cms_collection id=$cms_object_id '
                   'sub=$cms_sub_collection subid=$cms_sub_id '
                   'call=$cms_call_id bridge=$cms_bridge '
                   'params=$cms_params name=$cms_param_name';
    access_log %%TESTDIR%%/access.log cms;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;
        client_max_body_size 64k;
        client_body_buffer_size 8k;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
        }
    }

    # HTTP/2 without TLS (prior knowledge): its request body comes in
    # DATA frames, read by nginx's HTTP/2 code, not the HTTP/1 one
    server {
        listen 127.0.0.1:%%PORT_h2%% http2;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_inject%%;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy'), $t->port('inject'), $t->port('h2')]);

my $P = $t->port('proxy');
my %auth = (user => 'admin', password => 'secret1');

# the access log line of a request (written after the answer: poll)
sub log_line {
    my ($start) = @_;
    for (1 .. 100) {
        my ($line) = grep { index($_, $start) == 0 }
                     split /\n/, $t->read_file('access.log');
        return $line if defined $line;
        select(undef, undef, undef, 0.05);
    }
    return '';
}

sub get { $t->http('GET', $P, $_[0], %auth) }

# --- classification, as variables in the access log

my $space = id_of($t->http('POST', $P, '/api/v1/coSpaces',
    body => 'name=Weekly+Sync&passcode=1234&uri=weekly', %auth)
    ->{headers}{location});
ok($space, 'coSpace created through the proxy');

my $line = log_line('POST /api/v1/coSpaces ');
like($line, qr{^POST /api/v1/coSpaces op=coSpace\.create coll=coSpaces id= },
     'POST /coSpaces is coSpace.create');
like($line, qr{params=name=Weekly\+Sync&passcode=\*\*\*&uri=weekly name=Weekly Sync$},
     '$cms_params re-encoded with the passcode masked, $cms_param_name decoded');
like($line, qr{bridge=core1}, 'sent to the primary, core1');

my %ops = (
    "GET /api/v1/cospaces/$space/" => qr{op=coSpace\.get coll=coSpaces id=\Q$space\E },
    'GET /api/v1/system/status'    => qr{op=system\.status\.get coll=system/status },
    'GET /api/v1/calllegs'         => qr{op=callLeg\.list coll=callLegs },
    'GET /api/v1/noSuchThing'      => qr{op=unknown coll=noSuchThing },
);

for my $req (sort keys %ops) {
    my ($m, $path) = split / /, $req;
    $t->http($m, $P, $path, %auth);
    like(log_line("$m $path "), $ops{$req}, "classified: $req");
}

my $call = id_of($t->http('POST', $P, '/api/v1/calls',
    body => "coSpace=$space", %auth)->{headers}{location});
$t->http('POST', $P, "/api/v1/calls/$call/calllegs",
    body => 'remoteParty=desk.ex90@tkratzke.local', %auth);
like(log_line("POST /api/v1/calls/$call/calllegs "),
     qr{op=callLeg\.create coll=calls id=\Q$call\E sub=callLegs subid= call=\Q$call\E },
     'POST /calls/<id>/calllegs is callLeg.create, scoped to the call');

# --- transparency: statuses, headers and bodies as the bridge sent them

my $direct = $t->http('GET', $t->port('core1'), "/api/v1/coSpaces/$space", %auth);
my $proxied = get("/api/v1/coSpaces/$space");
is($proxied->{status}, 200, 'GET coSpace 200');
is($proxied->{content}, $direct->{content}, 'body unchanged');
is($proxied->{headers}{'content-type'}, 'text/xml', 'Content-Type unchanged');

my $missing = get('/api/v1/coSpaces/00000000-0000-0000-0000-000000000000');
is($missing->{status}, 404, 'unknown coSpace: the bridge\'s status');
like($missing->{content}, qr{<failureDetails><coSpaceDoesNotExist /></failureDetails>},
     'unknown coSpace: the bridge\'s failureDetails');

my $unknown = get('/api/v1/noSuchThing');
is($unknown->{status}, 400, 'unknown collection is still proxied');
like($unknown->{content}, qr{unrecognizedObject}, 'and the bridge answers it');

my $bad = $t->http('GET', $P, '/api/v1/coSpaces', user => 'admin', password => 'wrong');
is($bad->{status}, 401, 'wrong credentials: 401');
is($bad->{headers}{'www-authenticate'}, 'Basic realm="acano"', 'challenge passed through');

# --- credentials injected per bridge

my $I = $t->port('inject');
$t->sim('DELETE', '/_sim/requests');

my $inj = $t->http('GET', $I, '/api/v1/system/status',
                   user => 'tms', password => 'whatever');
is($inj->{status}, 200, 'inject: the client\'s own credentials are replaced');
my ($seen) = @{ $t->sim_requests('core1') };
is($seen->{headers}{authorization}, 'Basic ' . MIME::Base64::encode_base64('admin:secret1', ''),
   'inject: core1 received core1\'s credentials only');

$inj = $t->http('GET', $I, '/api/v1/system/status');
is($inj->{status}, 200, 'inject: a client without credentials gets them too');

# primary refuses: the GET is retried on core2, with core2's credentials

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'refuse' });
$t->sim('DELETE', '/_sim/requests');

$inj = $t->http('GET', $I, '/api/v1/system/status');
is($inj->{status}, 200, 'primary refuses: GET answered by the backup');
($seen) = @{ $t->sim_requests('core2') };
is($seen->{headers}{authorization}, 'Basic ' . MIME::Base64::encode_base64('admin2:secret2', ''),
   'retry on core2 carries core2\'s credentials');

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

# --- bad input: a clear answer, nothing sent to the bridge

$t->sim('DELETE', '/_sim/requests');

my $r = $t->http('PUT', $P, "/api/v1/coSpaces/$space", body => 'name=%zz', %auth);
is($r->{status}, 400, 'malformed urlencoding: 400');
like($r->{content}, qr{^<\?xml version="1.0"\?>\n<failureDetails><parameterError parameter="body" error="malformedBody" /></failureDetails>$},
     'malformed urlencoding: CMS-style failureDetails');
like($r->{headers}{'x-cms-proxy-reason'}, qr/escape.*byte 5/i,
     'malformed urlencoding: the reason names the offset');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     'malformed urlencoding: the request id ($cms_request_id) as well');
my $first_id = $r->{headers}{'x-request-id'} // '';

$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=a%00b', %auth);
is($r->{status}, 400, 'encoded NUL in a parameter: 400');

$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=' . ('x' x 20000), %auth);
is($r->{status}, 413, 'body over client_body_buffer_size: 413');
like($r->{content}, qr{error="tooLarge"}, 'oversized body: failureDetails');

$r = $t->http('POST', $P, '/api/v1/coSpaces', body => 'name=' . ('x' x 70000), %auth);
is($r->{status}, 413, 'body over client_max_body_size: 413 from nginx');
like($r->{content}, qr{^<\?xml version="1.0"\?>\n<failureDetails><parameterError error="tooLarge" /></failureDetails>$},
     'nginx\'s own 413 page becomes failureDetails');
is($r->{headers}{'content-type'}, 'text/xml', '... served as text/xml');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     '... with its request id');
isnt($r->{headers}{'x-request-id'}, $first_id, '... not an earlier one\'s');

for my $path ('/api/v1/coSpaces/../system/status', '/api/v1/coSpaces/%2e%2e/x',
              '/api/v1/./coSpaces', '/api/v1//coSpaces')
{
    my $raw = $t->raw($P, "GET $path HTTP/1.0\r\nHost: x\r\n"
        . "Authorization: Basic " . MIME::Base64::encode_base64('admin:secret1', '')
        . "\r\n\r\n");
    like($raw, qr{^HTTP/1.1 400 .*failureDetails><parameterError parameter="path" error="invalidPath"}s,
         "path $path refused with failureDetails");
}

# nginx's own parser refuses %00 in a path (400) before any module runs,
# with or without this one; what the module adds is that an escaped NUL
# a plain proxy_pass forwards (%2500: the bridge sees %00 after its own
# decoding) is refused too, as CMS-style invalidPath
my $raw = $t->raw($P, "GET /api/v1/coSpaces%00 HTTP/1.0\r\nHost: x\r\n\r\n");
like($raw, qr{^HTTP/1.1 400 }, '%00 in the path: nginx\'s own 400');

$raw = $t->raw($P, "GET /api/v1/coSpaces%2500 HTTP/1.0\r\nHost: x\r\n\r\n");
like($raw, qr{^HTTP/1.1 400 .*\r\nX-Cms-Proxy-Reason: percent-encoding in path\r\n.*<failureDetails><parameterError parameter="path" error="invalidPath" /></failureDetails>}s,
     '%2500 (an escaped NUL plain proxy_pass forwards): invalidPath');

is_deeply([ map { "$_->{method} $_->{path}" } @{ $t->sim_requests } ], [],
          'none of the bad requests reached a bridge');

$t->sim('DELETE', '/_sim/requests');

# many parameters: the default cms_max_params is 64; past eight the body
# is parsed again with room for all of them
for my $n (9, 64, 65) {
    my $body = join '&', map { "p$_=v%20$_" } 1 .. $n;
    $r = $t->http('POST', $P, '/api/v1/coSpaces', body => $body, %auth);
    if ($n <= 64) {
        my ($got) = grep { ($_->{body} // '') eq $body }
                    @{ $t->sim_requests('core1') };
        ok($got, "$n parameters: the bridge received the body")
            or diag($r->{headers}{'x-cms-proxy-reason'});
    } else {
        is($r->{status}, 400, "$n parameters: 400");
        like($r->{headers}{'x-cms-proxy-reason'} // '',
             qr/too many parameters at byte \Q@{[ index($body, 'p65=') ]}\E$/,
             '... too many, at the 65th');
    }
}
$r = $t->http('POST', $P, '/api/v1/coSpaces',
              body => join('&', (map { "p$_=v" } 1 .. 8), '=x'), %auth);
like($r->{headers}{'x-cms-proxy-reason'} // '', qr/empty parameter name/,
     'an empty name as the ninth component: refused as that');
$r = $t->http('POST', $P, '/api/v1/coSpaces',
              body => join('&', (map { "p$_=v" } 1 .. 8), 'p9=%zz'), %auth);
like($r->{headers}{'x-cms-proxy-reason'} // '', qr/bad percent-escape at byte 43$/,
     'a bad escape in the ninth: refused as that, at its byte');

# a body that comes after the headers, in pieces: nginx calls the body's
# handler later, from the event loop, not inside the read call as it does
# for a body that came with the headers; both must end the same way
sub send_slowly {
    my (@pieces) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$P", Timeout => 5)
        or die "connect: $!";

    for my $piece (@pieces) {
        syswrite($s, $piece);
        select(undef, undef, undef, 0.2);
    }

    my $buf = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        last unless sysread($s, $buf, 65536, length $buf);
    }
    close $s;

    return $buf;
}

# a good body reaches the bridge once, byte for byte; a refused one never
sub reached_bridge {
    my ($what, $body) = @_;

    my @got = grep { ($_->{body} // '') eq $body }
              @{ $t->sim_requests('core1') };
    is(scalar @got, $what eq 'good' ? 1 : 0,
       $what eq 'good' ? '... reached the bridge whole'
                       : '... did not reach the bridge');
}

my $basic = 'Authorization: Basic '
            . MIME::Base64::encode_base64('admin:secret1', '') . "\r\n";

for my $case (
    [ 'good', 'name=Slow+Body&passcode=4321&uri=slow', qr{^HTTP/1.1 200 } ],
    [ 'malformed', 'name=Slow&x=%zz', qr{^HTTP/1.1 400 .*error="malformedBody"}s ],
    [ 'repeated', 'name=a&Name=b', qr{^HTTP/1.1 400 .*error="ambiguous"}s ],
) {
    my ($what, $body, $want) = @$case;

    $t->sim('DELETE', '/_sim/requests');

    my $head = "POST /api/v1/coSpaces HTTP/1.0\r\nHost: x\r\n$basic"
               . "Content-Type: application/x-www-form-urlencoded\r\n"
               . 'Content-Length: ' . length($body) . "\r\n\r\n";
    my $half = int(length($body) / 2);

    my $raw = send_slowly($head, substr($body, 0, $half),
                          substr($body, $half));
    like($raw, $want, "$what body after the headers, in two pieces");

    reached_bridge($what, $body);
}

like(log_line('POST /api/v1/coSpaces op=coSpace.create coll=coSpaces id= sub= subid= call= bridge=core1 params=name=Slow'),
     qr{params=name=Slow\+Body&passcode=\*\*\*&uri=slow name=Slow Body$},
     'the slow body was parsed: its parameters logged, the passcode masked');

# the same over HTTP/2
for my $case (
    [ 'good', 'name=Over+H2&passcode=5555&uri=h2', qr{^HTTP/2 200 } ],
    [ 'malformed', 'name=H2&x=%zz', qr{^HTTP/2 400 .*error="malformedBody"}s ],
) {
    my ($what, $body, $want) = @$case;

    $t->sim('DELETE', '/_sim/requests');

    open(my $curl, '-|', 'curl', '-s', '-i', '--http2-prior-knowledge',
         '-u', 'admin:secret1',
         '-H', 'Content-Type: application/x-www-form-urlencoded',
         '--data-binary', $body,
         'http://127.0.0.1:' . $t->port('h2') . '/api/v1/coSpaces')
        or die "curl: $!";
    my $out = do { local $/; <$curl> } // '';
    close $curl;
    like($out, $want, "HTTP/2: $what body");

    reached_bridge($what, $body);
}

$t->done;
