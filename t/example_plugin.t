#!/usr/bin/env perl

# A third-party plugin, built out of tree as its own dynamic module
# (plugins/example), loaded after ngx_http_cms_module.so and registered
# through the public header only.  Through it, the core's hook rules:
# request hooks by priority whatever the order in "cms_plugins",
# response and log hooks in reverse, a denial in CMS style, log hooks
# for a denied request (those of plugins whose request hook never ran
# included), and events reaching every plugin's event hook.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;

my $ROOT = $CmsTest::ROOT;
my $EXAMPLE = "$ROOT/build/example/ngx_cms_example_module.so";

# --- the out-of-tree build

my $out = `make -C $ROOT/plugins/example 2>&1`;
is($?, 0, 'make -C plugins/example builds the example') or diag($out);
ok(-f $EXAMPLE, "it leaves $EXAMPLE");

my $src = do {
    open my $fh, '<', "$ROOT/plugins/example/ngx_cms_example_module.c" or die $!;
    local $/;
    <$fh>;
};
my @includes = $src =~ /^#include\s+(\S+)/mg;
is_deeply(\@includes, [qw(<ngx_config.h> <ngx_core.h> <ngx_http.h> <ngx_cms_plugin.h>)],
          'the example includes nginx and the public plugin header, nothing else');

my $nm = `nm -D --undefined-only $EXAMPLE 2>&1`;
my @cms = sort $nm =~ /\b(ngx_cms_\w+)/g;
is_deeply(\@cms, [qw(ngx_cms_call_ctx ngx_cms_call_num ngx_cms_call_request
                      ngx_cms_call_str ngx_cms_deny ngx_cms_event_emit
                      ngx_cms_plugin_register)],
          'it calls into the core through the public API only (the call '
          . 'object through its accessors)');

# --- load order: the core first

$t->write_conf(<<"EOF", 'alone.conf');
load_module $EXAMPLE;
events {}
EOF

my ($ok, $msg) = $t->nginx_t('alone.conf');
ok(!$ok, 'the example alone does not load');
like($msg, qr/undefined symbol: ngx_cms_/, 'for want of the core\'s symbols');

$t->write_conf(<<"EOF", 'reversed.conf');
load_module $EXAMPLE;
load_module %%MODULE%%;
events {}
EOF

($ok, $msg) = $t->nginx_t('reversed.conf');
ok(!$ok, 'loaded before the core, it does not load either');

$t->write_conf(<<"EOF", 'unknown.conf');
load_module %%MODULE%%;
events {}
http {
    server {
        listen 127.0.0.1:%%PORT_unused%%;
        location / { cms_plugins example_c; }
    }
}
EOF

($ok, $msg) = $t->nginx_t('unknown.conf');
ok(!$ok, 'without the example loaded, "cms_plugins example_c" is refused');
like($msg, qr/unknown cms plugin "example_c"/, 'naming the plugin');

# --- live

$t->start_sim;

$t->write_conf(<<"EOF");
%%GLOBALS%%
load_module $EXAMPLE;
events {}
http {
    cms_example_announce on;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins example;
            proxy_pass http://cms;
        }
    }

    # listed out of priority order on purpose: a 20, example 15, b 10
    server {
        listen 127.0.0.1:%%PORT_order%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins example_b example example_a;
            proxy_pass http://cms;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_plain%%;

        location /api/v1/ {
            cms_api on;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy order plain)]);

my %auth = (user => 'admin', password => 'secret1');
my ($P, $O, $N) = map { $t->port($_) } qw(proxy order plain);

# the event the example emits when a worker starts reached its event hook
# (waited for: a worker under valgrind takes its time to start)
wait_for('the worker start event',
         sub { $t->error_log =~ /cms example: event example\.start/ });
like($t->error_log, qr/cms event example\.start worker: \{"pid":\d+\}/,
     'the core relayed the example\'s event');
like($t->error_log, qr/cms example: event example\.start subject=worker detail=\{"pid":\d+\}/,
     'the example\'s event hook heard it');

# the header and the per-operation counter (one worker)

for my $n (1 .. 3) {
    my $res = $t->http('GET', $P, '/api/v1/system/status', %auth);
    is($res->{status}, 200, "system status #$n: 200");
    is($res->{headers}{'x-cms-example'}, 'system.status.get',
       "system status #$n: X-Cms-Example names the operation");
    is($res->{headers}{'x-cms-example-count'}, $n,
       "system status #$n: X-Cms-Example-Count is $n");
}

my $res = $t->http('POST', $P, '/api/v1/coSpaces', %auth,
                   body => 'name=Example&uri=example');
is($res->{status}, 200, 'coSpace.create: 200');
is($res->{headers}{'x-cms-example'}, 'coSpace.create', 'X-Cms-Example: coSpace.create');
is($res->{headers}{'x-cms-example-count'}, 1, 'counted apart from system.status.get');
is($res->{headers}{'x-cms-order'}, undef, 'example_a and example_b are not enabled here');

$res = $t->http('GET', $N, '/api/v1/system/status', %auth);
is($res->{headers}{'x-cms-example'}, undef, 'not enabled: no header');

# order: requests by priority, responses and logs in reverse

$res = $t->http('GET', $O, '/api/v1/coSpaces', %auth);
is($res->{status}, 200, 'coSpace.list with three plugins: 200');
is($res->{headers}{'x-cms-order'}, 'req:a,req:b,resp:b,resp:a',
   'request hooks by priority, response hooks in reverse');
is($res->{headers}{'x-cms-example'}, 'coSpace.list', 'and the example ran too');

# the log hooks run as the answer leaves (ngx_cms_log_filter.c), or in the
# log phase: wait for the last log hook's line
for (1 .. 400) {
    last if $t->error_log =~ /cms example_a: coSpace\.list order/;
    select(undef, undef, undef, 0.025);
}
like($t->error_log, qr/cms example_b: coSpace\.list order req:a,req:b,resp:b,resp:a,log:b(?: while|,)/,
     'log hooks in reverse: b first');
like($t->error_log, qr/cms example_a: coSpace\.list order req:a,req:b,resp:b,resp:a,log:b,log:a(?: while|,)/,
     'then a');
like($t->error_log, qr/cms example: log coSpace\.list status=200 verdict=pass rule="" plugin="" bridge="core1"(?: while|,)/,
     'the example\'s log hook saw the answer');
like($t->error_log, qr/cms example_b: coSpace\.list .*\n(?:.*\n)*?.*cms example: log coSpace\.list .*\n(?:.*\n)*?.*cms example_a: coSpace\.list /,
     'log hooks ran b (10), example (15), a (20)');

# a denial

$t->sim('DELETE', '/_sim/requests');

$res = $t->http('POST', $O, '/api/v1/coSpaces', %auth,
                headers => { 'X-Example-Deny' => 'yes' },
                body => 'name=Denied&uri=denied');
is($res->{status}, 403, 'X-Example-Deny: yes: 403');
is($res->{content},
   qq{<?xml version="1.0"?>\n<failureDetails><exampleDenied rule="example-deny-header" /></failureDetails>},
   'a CMS-style failureDetails naming the rule');
is($res->{headers}{'content-type'}, 'text/xml', 'as text/xml');
is($res->{headers}{'content-length'}, length $res->{content}, 'with its length');
is($res->{headers}{'x-cms-proxy-reason'}, 'X-Example-Deny header present',
   'and the reason in X-Cms-Proxy-Reason');
is($res->{headers}{'x-cms-order'}, undef, 'no response hooks for our own answer');
is($res->{headers}{'x-cms-example'}, undef, 'none at all');
is(scalar @{ $t->sim_requests }, 0, 'the bridge never saw the denied request');

for (1 .. 400) {
    last if $t->error_log =~ /cms example_a: coSpace\.create order/;
    select(undef, undef, undef, 0.025);
}
like($t->error_log, qr/cms example: log coSpace\.create status=403 verdict=deny rule="example-deny-header" plugin="example" bridge=""(?: while|,)/,
     'the denying plugin\'s log hook ran for the denied request');
like($t->error_log, qr/cms example_a: coSpace\.create order req:a,log:b,log:a(?: while|,)/,
     'b\'s log hook ran though its request hook never did, then a\'s');
like($t->error_log, qr/\[info\] .*cms: coSpace\.create denied by plugin "example" rule "example-deny-header": X-Example-Deny header present/,
     'the core logged the denial');

$res = $t->http('GET', $O, '/api/v1/coSpaces', %auth,
                headers => { 'X-Example-Deny' => 'no' });
is($res->{status}, 200, 'X-Example-Deny: no is not a denial');

$t->done;
