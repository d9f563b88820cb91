#!/usr/bin/env perl

# The rewrite plugin: parameters rewritten by regex with captures (the
# bridge receives a well-formed, re-encoded body with the right
# Content-Length), rules merged http -> server -> location, and the
# <address> of /callBridges/<id> answers pointed at the proxy with every
# other byte of the bridge's answer kept.  Bad configurations fail
# "nginx -t" naming the directive and the value.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use CmsTest;
use CmsSeed qw(id_of);
use MIME::Base64 ();

my $t = CmsTest->new;

# --- configuration errors

my %bad = (
    'bad regex' => [
        'cms_rewrite_param remoteParty "^(\d+$" "$1@x";',
        qr/invalid regex "\^\(\\d\+\$" in "cms_rewrite_param" for "remoteParty"/ ],
    'capture the regex does not have' => [
        'cms_rewrite_param remoteParty "^(\d+)$" "$2@x";',
        qr/invalid replacement "\$2\@x" in "cms_rewrite_param" for "remoteParty": "\$2" but "\^\(\\d\+\)\$" has 1 capture/ ],
    'dangling dollar' => [
        'cms_rewrite_param name "^(.*)$" "$1 costs 5$";',
        qr/invalid replacement "\$1 costs 5\$" in "cms_rewrite_param" for "name": "\$" at byte 10/ ],
    'bad op list' => [
        'cms_rewrite_param name "^(.*)$" "$1" op=coSpace.create,;',
        qr/invalid value "op=coSpace\.create," in "cms_rewrite_param" for "name"/ ],
    'not op=' => [
        'cms_rewrite_param name "^(.*)$" "$1" ops=coSpace.create;',
        qr/invalid value "ops=coSpace\.create" in "cms_rewrite_param"/ ],
    'bad single argument' => [
        'cms_rewrite_param on;',
        qr/invalid value "on" in "cms_rewrite_param"/ ],
    'off mixed with rules' => [
        "cms_rewrite_param off;\n        cms_rewrite_param name a b;",
        qr/"cms_rewrite_param" directive has rules after "cms_rewrite_param off"/ ],
    'advertise without scheme' => [
        'cms_advertise_address cms-proxy.example.com:445;',
        qr/invalid value "cms-proxy\.example\.com:445" in "cms_advertise_address"/ ],
    'advertise with markup' => [
        'cms_advertise_address "https://a<b>";',
        qr/invalid value "https:\/\/a<b>" in "cms_advertise_address"/ ],
    'advertise twice' => [
        "cms_advertise_address https://a;\n        cms_advertise_address https://b;",
        qr/"cms_advertise_address" directive is duplicate/ ],
);

for my $name (sort keys %bad) {
    my ($directive, $re) = @{ $bad{$name} };

    $t->write_conf(<<"EOF", 'bad.conf');
load_module %%MODULE%%;
events {}
http {
    server {
        listen 127.0.0.1:%%PORT_unused%%;
        $directive
    }
}
EOF

    my ($ok, $out) = $t->nginx_t('bad.conf');
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "nginx -t names the directive and the value: $name");
}

$t->write_conf(<<'EOF', 'good.conf');
load_module %%MODULE%%;
events {}
http {
    cms_advertise_address https://cms-proxy.example.com:445;
    cms_rewrite_param remoteParty "^(\d+)$" "$1@video.example.com" op=callLeg.create,participant.*;
    server {
        listen 127.0.0.1:%%PORT_unused%%;
        cms_rewrite_param off;
        location / {
            cms_advertise_address off;
            cms_rewrite_param name "^(?i)room (\w+)$" "Room $1 $$";
            cms_plugins rewrite;
        }
    }
}
EOF

my ($good, $good_out) = $t->nginx_t('good.conf');
ok($good, 'a valid configuration passes nginx -t') or diag($good_out);

# --- live

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    cms_advertise_address https://cms-proxy.example.com:445;
    cms_rewrite_param uri "^(.+)$" "$1.http" op=coSpace.create;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    # inherits the http-level rule and address
    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins rewrite;
            proxy_pass http://cms;
        }
    }

    # rules of its own replace the http-level ones
    server {
        listen 127.0.0.1:%%PORT_rules%%;

        cms_rewrite_param remoteParty "^(\d+)$" "$1@video.example.com" op=callLeg.create,participant.create;
        cms_rewrite_param name "^Room (\w+)$" "Meeting room $1";
        cms_rewrite_param name "^Meeting room (\d+)$" "Meeting room #$1 $$";
        cms_rewrite_param callId "^0+(\d+)$" "$1" op=coSpace.*;
        cms_rewrite_param secondaryUri "^(\w+)@(\w+)$" "$2@$1" op=coSpace.modify;
        cms_rewrite_param cdrTag "^$" "untagged";

        location /api/v1/ {
            cms_api on;
            cms_plugins rewrite;
            proxy_pass http://cms;
        }

        location ~ ^/api/v1/callBridges/. {
            cms_api on;
            cms_plugins rewrite;
            cms_advertise_address http://proxy-b.example.com;
            proxy_pass http://cms;
        }

        location ~ ^/api/v1/coSpaces/. {
            cms_api on;
            cms_plugins rewrite;
            cms_rewrite_param off;
            cms_advertise_address off;
            proxy_pass http://cms;
        }
    }

    # the plugin is not enabled: nothing is rewritten
    server {
        listen 127.0.0.1:%%PORT_plain%%;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy rules plain)]);

my %auth = (user => 'admin', password => 'secret1');
my ($P, $R, $N) = map { $t->port($_) } qw(proxy rules plain);

# Sends one request and returns what core1 received for it.
sub seen {
    my ($port, $method, $path, $body) = @_;

    $t->sim('DELETE', '/_sim/requests');
    my $res = $t->http($method, $port, $path, %auth,
                       (defined $body ? (body => $body) : ()));
    my @seen = @{ $t->sim_requests('core1') };

    is(scalar @seen, 1, "$method $path: core1 received one request");

    return ($res, $seen[0] // {});
}

# A body the bridge received is well-formed: the exact bytes, and a
# Content-Length that is their length.
sub bridge_got {
    my ($seen, $expected, $name) = @_;

    is($seen->{body}, $expected, "$name: the bridge received exactly this body");
    is($seen->{headers}{'content-length'}, length $expected,
       "$name: and Content-Length is its length");
}

# --- parameters: http-level rule, inherited

my ($res, $seen) = seen($P, POST => '/api/v1/coSpaces',
                        'name=Weekly+Sync&uri=weekly&passcode=1234');
is($res->{status}, 200, 'coSpace.create through the inherited rule: 200');
bridge_got($seen, 'name=Weekly+Sync&uri=weekly.http&passcode=1234',
           'http-level uri rule, op=coSpace.create');

my $space = id_of($res->{headers}{location});
ok($space, 'coSpace created');

my $get = $t->http('GET', $t->port('core1'), "/api/v1/coSpaces/$space", %auth);
like($get->{content}, qr{<uri>weekly\.http</uri>},
     'the bridge stored the rewritten uri');

($res, $seen) = seen($P, PUT => "/api/v1/coSpaces/$space", 'uri=weekly2');
is($res->{status}, 200, 'coSpace.modify: 200');
bridge_got($seen, 'uri=weekly2', 'op filter: coSpace.modify is left alone');

# unchanged bodies go on byte for byte, odd encodings included

($res, $seen) = seen($P, POST => '/api/v1/coSpaces',
                     'name=A%2eb&&uri=&passcode=%31');
bridge_got($seen, 'name=A%2eb&&uri=&passcode=%31',
           'a rule that does not match (empty uri): body untouched');

# --- parameters: server-level rules

($res, $seen) = seen($R, POST => '/api/v1/coSpaces',
                     'name=Room+42&uri=room42&callId=000123');
is($res->{status}, 200, 'coSpace.create on the rules server: 200');
bridge_got($seen, 'name=Meeting+room+%2342+%24&uri=room42&callId=123',
           'chained name rules, $$, op=coSpace.*; the http uri rule is replaced');

my $room = id_of($res->{headers}{location});

($res, $seen) = seen($R, POST => '/api/v1/coSpaces',
                     'name=Tagless&cdrTag=&uri=tagless');
bridge_got($seen, 'name=Tagless&cdrTag=untagged&uri=tagless',
           'an empty value can be matched ("^$")');

($res, $seen) = seen($R, POST => '/api/v1/coSpaces',
                     'name=Room+Blue&uri=blue');
bridge_got($seen, 'name=Meeting+room+Blue&uri=blue',
           'the second name rule does not match "Meeting room Blue"');

($res, $seen) = seen($R, POST => '/api/v1/calls', "coSpace=$room");
is($res->{status}, 200, 'call.create: 200');
bridge_got($seen, "coSpace=$room", 'call.create: no rule applies');

my $call = id_of($res->{headers}{location});
ok($call, 'call created');

($res, $seen) = seen($R, POST => "/api/v1/calls/$call/callLegs",
                     'remoteParty=5551234&bandwidth=2000000');
is($res->{status}, 200, 'callLeg.create with a rewritten remoteParty: 200');
bridge_got($seen, 'remoteParty=5551234%40video.example.com&bandwidth=2000000',
           'remoteParty digits get the domain');

my $leg = id_of($res->{headers}{location});
my $leg_xml = $t->http('GET', $t->port('core1'), "/api/v1/callLegs/$leg", %auth);
like($leg_xml->{content}, qr{<remoteParty>5551234\@video\.example\.com</remoteParty>},
     'the bridge decoded the rewritten remoteParty');

# a chunked request body, rewritten: the bridge gets a plain one
$t->sim('DELETE', '/_sim/requests');
my $chunked_body = 'remoteParty=4242&bandwidth=1000000';
my $raw = $t->raw($R, "POST /api/v1/calls/$call/callLegs HTTP/1.1\r\n"
    . "Host: localhost\r\nConnection: close\r\n"
    . 'Authorization: Basic ' . MIME::Base64::encode_base64('admin:secret1', '') . "\r\n"
    . "Content-Type: application/x-www-form-urlencoded\r\n"
    . "Transfer-Encoding: chunked\r\n\r\n"
    . sprintf('%x', 10) . "\r\n" . substr($chunked_body, 0, 10) . "\r\n"
    . sprintf('%x', length($chunked_body) - 10) . "\r\n" . substr($chunked_body, 10) . "\r\n"
    . "0\r\n\r\n");
like($raw, qr{^HTTP/1\.1 200 }, 'a chunked callLeg.create: 200');
my ($chunked_seen) = @{ $t->sim_requests('core1') };
bridge_got($chunked_seen, 'remoteParty=4242%40video.example.com&bandwidth=1000000',
           'chunked request body, rewritten');
is($chunked_seen->{headers}{'transfer-encoding'}, undef,
   'chunked request body: no Transfer-Encoding to the bridge');

($res, $seen) = seen($R, POST => "/api/v1/calls/$call/callLegs",
                     'remoteParty=desk.ex90%40example.com');
bridge_got($seen, 'remoteParty=desk.ex90%40example.com',
           'a remoteParty that is not digits is left alone');

($res, $seen) = seen($R, PUT => "/api/v1/coSpaces/$room",
                     'secondaryUri=alice@bob&name=Room+7');
bridge_got($seen, 'secondaryUri=alice@bob&name=Room+7',
           'location with "cms_rewrite_param off": nothing rewritten');

# the same PUT in lower case misses that (case-sensitive) location and
# gets the server's rules: still coSpace.modify for the classifier
($res, $seen) = seen($R, PUT => "/api/v1/cospaces/$room",
                     'secondaryUri=alice@bob&name=Room+7');
is($res->{status}, 200, 'coSpace.modify via /cospaces/: 200');
bridge_got($seen, 'secondaryUri=bob%40alice&name=Meeting+room+%237+%24',
           'op=coSpace.modify rule with two captures swapped, name rules');

($res, $seen) = seen($R, POST => "/api/v1/calls/$call/participants",
                     'remoteParty=777&name=Room+7');
bridge_got($seen, 'remoteParty=777%40video.example.com&name=Meeting+room+%237+%24',
           'participant.create: remoteParty and both name rules');

($res, $seen) = seen($N, POST => '/api/v1/coSpaces', 'name=Room+9&uri=nine');
bridge_got($seen, 'name=Room+9&uri=nine', 'plugin not enabled: untouched');

my $log = $t->error_log;
like($log, qr/cms rewrite: remoteParty: "5551234" rewritten to "5551234\@video\.example\.com"/,
     'the rewrite is in the debug log');

# --- /callBridges/<id>: <address> points at the proxy

my $list = $t->http('GET', $t->port('core1'), '/api/v1/callBridges', %auth);
my @ids = $list->{content} =~ /<callBridge id="([^"]+)"/g;
is(scalar @ids, 2, 'the cluster has two call bridges');

for my $id (@ids) {
    my $direct = $t->http('GET', $t->port('core1'), "/api/v1/callBridges/$id", %auth);
    is($direct->{status}, 200, "callBridge $id straight from core1: 200");
    like($direct->{content},
         qr{^<\?xml version="1\.0"\?>\n<callBridge id="\Q$id\E"><name>CallBridge-core\d</name><address>http://127\.0\.0\.1:\d+</address><sipDomain></sipDomain></callBridge>$},
         'the bridge answers with its own address and an open/close sipDomain');

    (my $expected = $direct->{content})
        =~ s{<address>[^<]*</address>}{<address>https://cms-proxy.example.com:445</address>};

    my $proxied = $t->http('GET', $P, "/api/v1/callBridges/$id", %auth);
    is($proxied->{status}, 200, 'through the proxy: 200');
    is($proxied->{content}, $expected,
       'through the proxy: the same bytes but the address (shapes kept)');
    is($proxied->{headers}{'content-length'}, length $expected,
       'Content-Length is the new length');
    is($proxied->{headers}{'content-type'}, 'text/xml', 'Content-Type kept');

    ($expected = $direct->{content})
        =~ s{<address>[^<]*</address>}{<address>http://proxy-b.example.com</address>};

    $proxied = $t->http('GET', $R, "/api/v1/callBridges/$id", %auth);
    is($proxied->{content}, $expected, 'a location\'s own advertised address');
    is($proxied->{headers}{'content-length'}, length $expected,
       'and its Content-Length');
}

# The bridge's Apache compresses for clients that accept gzip: the
# answer to be rewritten is asked for uncompressed, the others are not.

$t->sim('PUT', '/_sim/config', { gzip => 1 });
$t->sim('DELETE', '/_sim/requests');

my $gz_direct = $t->http('GET', $t->port('core1'), "/api/v1/callBridges/$ids[0]", %auth,
                         headers => { 'Accept-Encoding' => 'gzip' });
is($gz_direct->{headers}{'content-encoding'}, 'gzip', 'the bridge compresses when asked');

$t->sim('DELETE', '/_sim/requests');
my $gz = $t->http('GET', $P, "/api/v1/callBridges/$ids[0]", %auth,
                  headers => { 'Accept-Encoding' => 'gzip, deflate' });
is($gz->{status}, 200, 'callBridge.get with Accept-Encoding: gzip: 200');
is($gz->{headers}{'content-encoding'}, undef, 'answered uncompressed');
like($gz->{content}, qr{<address>https://cms-proxy\.example\.com:445</address><sipDomain></sipDomain></callBridge>$},
     'and rewritten');
is($t->sim_requests('core1')->[0]{headers}{'accept-encoding'}, 'identity',
   'the bridge was asked for identity');

$t->sim('DELETE', '/_sim/requests');
my $gz_space = $t->http('GET', $P, "/api/v1/coSpaces/$space", %auth,
                        headers => { 'Accept-Encoding' => 'gzip' });
is($gz_space->{headers}{'content-encoding'}, 'gzip',
   'other answers stay compressed as the client asked');
is($t->sim_requests('core1')->[0]{headers}{'accept-encoding'}, 'gzip',
   'the bridge saw the client\'s Accept-Encoding');

$t->sim('PUT', '/_sim/config', { gzip => 0 });

my $direct_list = $t->http('GET', $P, '/api/v1/callBridges', %auth);
is($direct_list->{content}, $list->{content}, 'the /callBridges list is untouched');

my $plain = $t->http('GET', $N, "/api/v1/callBridges/$ids[0]", %auth);
my $direct = $t->http('GET', $t->port('core1'), "/api/v1/callBridges/$ids[0]", %auth);
is($plain->{content}, $direct->{content}, 'plugin not enabled: the bridge\'s address');

my $missing = $t->http('GET', $P, '/api/v1/callBridges/00000000-0000-0000-0000-000000000000', %auth);
is($missing->{status}, 404, 'unknown callBridge: the bridge\'s 404');
like($missing->{content}, qr{<failureDetails><callBridgeDoesNotExist /></failureDetails>},
     'and its failureDetails, untouched');

my $head = $t->http('HEAD', $P, "/api/v1/callBridges/$ids[0]", %auth);
my $direct_head = $t->http('HEAD', $t->port('core1'), "/api/v1/callBridges/$ids[0]", %auth);
is($head->{status}, $direct_head->{status}, 'HEAD /callBridges/<id>: the bridge\'s status');
is($head->{content} // '', '', 'HEAD: no body');

$t->done;
