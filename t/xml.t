#!/usr/bin/env perl

# Hostile XML from a bridge, on the one answer the rewrite plugin parses
# (/callBridges/<id>): billion laughs, an external entity, deep nesting,
# 100 MB, invalid UTF-8, garbage and a plain DOCTYPE.  Each answer goes
# to the client untouched (the bridge's bytes, or its status and length
# where the bridge's bytes are random), the plugin's response hook is
# told why it could not rewrite (its info line in error.log), the worker
# does not hold 100 MB, and nothing is logged at [alert] or [emerg].
#
# Three ways in: the default cms_response_buffer (64k), a 1 MB one (so
# the deep document reaches libxml2 and its depth limit), and a relay
# that strips Content-Length so answers arrive chunked and the cap is
# met in the body filter rather than in the header filter.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::MD5;
use HTTP::Tiny;
use MIME::Base64;
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    cms_advertise_address https://cms-proxy.example.com:445;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    upstream relayed {
        cms_bridge core1 127.0.0.1:%%PORT_relay%% user=admin password=secret1;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins rewrite;
            proxy_pass http://cms;
            proxy_read_timeout 60s;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_big%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins rewrite;
            cms_response_buffer 1m;
            proxy_pass http://cms;
            proxy_read_timeout 60s;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_chunked%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins rewrite;
            proxy_pass http://relayed;
            proxy_http_version 1.1;
            proxy_read_timeout 60s;
        }
    }

    # core1 again, without Content-Length (sub_filter clears it)
    server {
        listen 127.0.0.1:%%PORT_relay%%;

        location / {
            proxy_pass http://127.0.0.1:%%PORT_core1%%;
            proxy_read_timeout 60s;
            sub_filter_types text/xml;
            sub_filter "@@never-there@@" "";
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy big chunked relay)]);

my %auth = (user => 'admin', password => 'secret1');
my %port = map { $_ => $t->port($_) } qw(proxy big chunked);

my $list = $t->http('GET', $t->port('core1'), '/api/v1/callBridges', %auth);
my ($id) = $list->{content} =~ /<callBridge id="([^"]+)"/;
ok($id, 'a callBridge id from the bridge');

my $path = "/api/v1/callBridges/$id";

# Before anything hostile: the plugin does rewrite on every way in.

for my $way (sort keys %port) {
    my $res = $t->http('GET', $port{$way}, $path, %auth);
    like($res->{content}, qr{<address>https://cms-proxy\.example\.com:445</address><sipDomain></sipDomain>},
         "$way: a well-formed answer is rewritten");
}

my $passwd = do {
    open my $fh, '<', '/etc/passwd' or die "/etc/passwd: $!";
    local $/;
    <$fh>;
};
my ($passwd_line) = $passwd =~ /^(root:[^\n]+)/m;
ok($passwd_line, 'the test knows what /etc/passwd holds');

sub hook_lines {
    my ($why) = @_;
    my @lines = $t->error_log =~ /\[info\] .*cms rewrite: answer to callBridge\.get not rewritten: \Q$why\E/g;
    return scalar @lines;
}

sub fault {
    my (%f) = @_;
    $t->sim('PUT', '/_sim/bridges/core1/fault',
            { mode => 'hostile', path => 'callBridges/', %f });
}

my @cases = (
    [ billion_laughs => { kind => 'billion_laughs' } ],
    [ xxe            => { kind => 'xxe' } ],
    [ deep           => { kind => 'deep' } ],
    [ deep_small     => { kind => 'deep', depth => 2000 } ],
    [ bad_utf8       => { kind => 'bad_utf8' } ],
    [ doctype        => { kind => 'doctype' } ],
    [ garbage        => { mode => 'garbage' } ],
);

for my $case (@cases) {
    my ($name, $fault) = @$case;

    fault(%$fault);

    my $direct = $t->http('GET', $t->port('core1'), $path, %auth);
    is($direct->{status}, 200, "$name: the bridge answers 200");

    for my $way (sort keys %port) {

        # What the hook should have been told: the 64k cap stops the
        # deep document (700 KB) before libxml2; 1 MB lets it through.
        my $why = ($name eq 'deep' && $way ne 'big')
                  ? 'over cms_response_buffer' : 'not well-formed XML';

        my $before = hook_lines($why);
        my $res = $t->http('GET', $port{$way}, $path, %auth, timeout => 30);

        is($res->{status}, 200, "$name via $way: the bridge's 200");

        if ($name eq 'garbage') {
            # random bytes differ on every answer: the frame and the length
            is(length $res->{content}, length $direct->{content},
               "$name via $way: the bridge's length");
            is(substr($res->{content}, 0, 80), substr($direct->{content}, 0, 80),
               "$name via $way: the bridge's first bytes");
            is(substr($res->{content}, -9), '</na<coSp',
               "$name via $way: the bridge's last bytes");

        } else {
            ok($res->{content} eq $direct->{content},
               "$name via $way: byte-identical to the bridge's answer ("
               . length($direct->{content}) . ' bytes)');
        }

        if ($way ne 'chunked') {
            is($res->{headers}{'content-length'}, length $direct->{content},
               "$name via $way: the bridge's Content-Length");
        }

        unlike($res->{content}, qr/\Q$passwd_line\E/,
               "$name via $way: nothing of /etc/passwd");
        unlike($res->{content}, qr/cms-proxy\.example\.com/,
               "$name via $way: not rewritten");

        is(hook_lines($why), $before + 1,
           "$name via $way: the response hook was told: $why");
    }
}

# libxml2 really was asked for the deep document (and refused it)
like($t->error_log, qr/cms: bridge answer is not well-formed XML/,
     'the core logged a document libxml2 refused');
like($t->error_log, qr/cms: bridge answer with a DOCTYPE refused/,
     'the core logged a DOCTYPE it refused');

# --- 100 MB: over every cap; streamed through, in full, in flat memory

sub worker_pid {
    my $master = $t->{pids}{nginx};
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S (\d+)/ or next;
        return $pid if $ppid == $master;
    }
    return undef;
}

# VmRSS now, and VmHWM: the peak, which a buffer freed at the end of
# the request would still show.
sub mem_kb {
    my ($pid, $what) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^$what:\s+(\d+) kB/;
    }
    return undef;
}

# Length and MD5 of an answer, read in pieces: 100 MB never sit here.
sub fetch_digest {
    my ($port) = @_;

    my $md5 = Digest::MD5->new;
    my $len = 0;
    my $ua = HTTP::Tiny->new(timeout => 120, keep_alive => 0);
    my $res = $ua->request('GET', "http://127.0.0.1:$port$path", {
        headers => { Authorization => 'Basic '
                     . MIME::Base64::encode_base64('admin:secret1', '') },
        data_callback => sub { $md5->add($_[0]); $len += length $_[0] },
    });

    return ($res, $len, $md5->hexdigest);
}

my $size = 100 * 1024 * 1024;
fault(kind => 'huge', size => $size);

my ($dres, $dlen, $dmd5) = fetch_digest($t->port('core1'));
is($dres->{status}, 200, 'huge: the bridge answers 200');
is($dlen, $size, 'huge: the bridge sends 100 MB');

my $worker = worker_pid();
ok($worker, 'the nginx worker is found');

for my $way (qw(proxy chunked)) {
    my $rss_before = mem_kb($worker, 'VmRSS');
    my $hwm_before = mem_kb($worker, 'VmHWM');
    my $before = hook_lines('over cms_response_buffer');

    my ($res, $len, $md5) = fetch_digest($port{$way});
    my $rss_after = mem_kb($worker, 'VmRSS');
    my $hwm_after = mem_kb($worker, 'VmHWM');

    is($res->{status}, 200, "huge via $way: 200");
    is($len, $size, "huge via $way: all 100 MB arrive");
    is($md5, $dmd5, "huge via $way: the bridge's bytes (MD5)");
    if ($way eq 'proxy') {
        is($res->{headers}{'content-length'}, $size,
           "huge via $way: the bridge's Content-Length");
    }
    is(hook_lines('over cms_response_buffer'), $before + 1,
       "huge via $way: the response hook was told: over cms_response_buffer");

    my $growth = ($rss_after - $rss_before) / 1024;
    cmp_ok($growth, '<', 32,
           "huge via $way: the worker's RSS grew by less than 32 MB ("
           . sprintf('%.1f', $growth) . " MB: $rss_before kB -> $rss_after kB)");

    my $peak = ($hwm_after - $hwm_before) / 1024;
    cmp_ok($peak, '<', 32,
           "huge via $way: nor did its peak RSS ("
           . sprintf('%.1f', $peak) . " MB: $hwm_before kB -> $hwm_after kB)");
}

is(worker_pid(), $worker, 'the same worker is still serving');

# --- and afterwards everything is normal again

$t->sim('PUT', '/_sim/bridges/core1/fault', { mode => 'none' });

for my $way (sort keys %port) {
    my $res = $t->http('GET', $port{$way}, $path, %auth);
    like($res->{content}, qr{<address>https://cms-proxy\.example\.com:445</address>},
         "$way: rewritten again once the bridge is sane");
}

my @bad = grep { /\[crit\]/ } split /\n/, $t->error_log;
is(join("\n", @bad), '', 'no [crit] in error.log');

$t->done;
