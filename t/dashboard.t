#!/usr/bin/env perl

# The dashboard page (cms_dashboard) in a real headless Chromium, driven
# through the DevTools protocol (Mojo's WebSocket client): it loads with
# nothing from anywhere but this nginx, shows the bridges, the active
# bridge, a held slot and a stuck slot; a failover changes the page
# without a reload; the admin buttons ask for confirmation and act; no
# console error, no exception.  A screenshot is taken (UPDATE_SCREENSHOT=1
# copies it to docs/dashboard.png).  Without an authenticated user the
# page has no admin buttons.

use strict;
use warnings;

BEGIN { $ENV{MOJO_MAX_WEBSOCKET_SIZE} = 64 * 1024 * 1024 }

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Copy qw(copy);
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(sleep time);
use Mojo::UserAgent;
use Mojo::IOLoop;
use Mojo::JSON qw(encode_json decode_json);
use CmsTest;
use CmsSeed qw(tms_session id_of);

my $CHROMIUM = '/usr/bin/chromium';

plan skip_all => 'chromium is not installed (Debian: apt-get install '
    . 'chromium; make test installs it)' unless -x $CHROMIUM;

my $t = CmsTest->new;
my $ROOT = $CmsTest::ROOT;

# --- the page embedded in the module is the one in dashboard/

{
    my $out = $t->dir . '/html.h';
    system($^X, "$ROOT/dashboard/embed.pl", "$ROOT/dashboard/index.html",
           $out) == 0 or die 'embed.pl failed';
    is($t->read_file('html.h'),
       do { local (@ARGV, $/) = "$ROOT/ngx_cms_module/http/ngx_cms_dashboard_html.h";
            <> },
       'ngx_cms_dashboard_html.h is up to date with dashboard/index.html');
}

$t->start_sim;

$t->write_file('htpasswd', "tms:{PLAIN}tms-pw\nops:{PLAIN}ops-pw\n");
chmod 0711, $t->dir;
chmod 0644, $t->dir . '/htpasswd';

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;

    cms_slot_stuck_after 1s;
    cms_slot_check_interval 300ms;
    cms_slot_reconcile_at_start off;

    cms_recover_calls on;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1 primary;
        cms_bridge core2 127.0.0.1:%%PORT_core2%% user=admin2 password=secret2 backup;
        cms_health_check interval=300ms timeout=1s;
        cms_failback manual;
        cms_discovery off;
    }

    cms_role scheduler tms;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        auth_basic "cms";
        auth_basic_user_file %%TESTDIR%%/htpasswd;

        location /api/v1/ {
            cms_api on;
            cms_credentials inject;
            cms_plugins policy slots recovery;
            cms_policy_rule keep-spaces deny op=coSpace.delete;
            cms_policy_rule no-profiles deny op=callProfile.list mode=report;
            proxy_pass http://cms;
        }

        location = /dashboard {
            cms_dashboard status=/cms-status slots=/cms-slots
                          metrics=/metrics admin=/cms-admin/
                          recovery=/cms-recovery;
        }

        location = /cms-status { cms_status; }
        location = /cms-slots { cms_slots_status; }
        location = /metrics { cms_metrics; }
        location = /cms-recovery { cms_recovery_status; }
        location /cms-admin/ { cms_admin; }
    }

    # the same page where nginx verifies nobody: no admin buttons
    server {
        listen 127.0.0.1:%%PORT_open%%;

        location = /dashboard {
            cms_dashboard admin=/cms-admin/;
        }
    }
}
EOF

$t->run_nginx(ports => [$t->port('proxy'), $t->port('open')]);

my $P = $t->port('proxy');
my %tms = (user => 'tms', password => 'tms-pw');
my %ops = (user => 'ops', password => 'ops-pw');

sub api {
    my ($method, $path, $body) = @_;
    return $t->http($method, $P, $path, body => $body, %tms);
}

# --- a pool of five slots (TMS's own session), one held, one stuck

tms_session(sub { api(@_) });

my %space = reverse(api(GET => '/api/v1/coSpaces?filter=TMS_Scheduled_Meeting_')
    ->{content} =~ /<coSpace id="([^"]+)"><name>TMS_Scheduled_Meeting_(\d+)</g);
is(scalar keys %space, 5, 'a pool of five slots');

is(api(PUT => "/api/v1/cospaces/$space{1}",
       'nonMemberAccess=true&passcode=&name=Board Meeting&secret=a')
   ->{status}, 200, 'Board Meeting checks slot 1 out');
ok(api(POST => '/api/v1/calls', "coSpace=$space{1}")->{headers}{location},
   'and its call starts');
is(api(PUT => "/api/v1/cospaces/$space{2}",
       'nonMemberAccess=true&passcode=&name=Forgotten Meeting&secret=b')
   ->{status}, 200, 'Forgotten Meeting checks slot 2 out, no call follows');
is(api(DELETE => "/api/v1/coSpaces/$space{3}")->{status}, 403,
   'a refusal for the denials panel');
is(api(GET => '/api/v1/callProfiles')->{status}, 200,
   'and a report-only one');

my $deadline = time + 20;
my $stuck;
while (time < $deadline) {
    my $s = $t->{json}->decode($t->http('GET', $P, '/cms-slots', %ops)
                               ->{content});
    $stuck = $s->{stuck};
    last if $stuck;
    sleep 0.1;
}
is($stuck, 1, 'slot 2 is stuck');

# --- the page as served

my $r = $t->http('GET', $P, '/dashboard', %ops);
is($r->{status}, 200, 'the dashboard is served');
like($r->{headers}{'content-type'}, qr{^text/html}, 'as HTML');
like($r->{headers}{'content-security-policy'}, qr/default-src 'none'/,
     'with a CSP that forbids anything from elsewhere');
like($r->{content}, qr{window\.CMS_CONFIG=\{"status":"/cms-status","slots":"/cms-slots","metrics":"/metrics","admin":"/cms-admin/","recovery":"/cms-recovery"\}},
     'its configuration, with the admin URI for a verified user');
unlike($r->{content}, qr{(?:src|href)=["']?(?:https?:)?//}i,
       'no script, style or image from another origin');

$r = $t->http('GET', $t->port('open'), '/dashboard');
like($r->{content}, qr{"admin":""}, 'without a verified user: no admin URI');

# --- Chromium, headless, driven over the DevTools protocol

my $CDP = $t->port('cdp');
mkdir $t->dir . '/chrome';

my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', $t->dir . '/chromium.log' or die;
    open STDERR, '>&', \*STDOUT or die;
    exec($CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
         '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-extensions',
         '--disable-dev-shm-usage', '--window-size=1280,1200',
         '--user-data-dir=' . $t->dir . '/chrome',
         '--remote-debugging-address=127.0.0.1',
         "--remote-debugging-port=$CDP", 'about:blank') or die "exec: $!";
}
$t->{pids}{chromium} = $pid;
$t->wait_port($CDP);

my $ua = Mojo::UserAgent->new(inactivity_timeout => 0);
my ($page) = grep { $_->{type} eq 'page' }
             @{ $ua->get("http://127.0.0.1:$CDP/json/list")->result->json };
ok($page, 'Chromium runs, with a page');

my ($ws, %reply, @events, @console, @dialogs);
my $seq = 0;

$ua->websocket($page->{webSocketDebuggerUrl} => sub {
    my ($ua, $tx) = @_;
    die 'DevTools: ' . ($tx->res->error // {})->{message}
        unless $tx->is_websocket;
    $tx->on(message => sub {
        my $m = decode_json($_[1]);
        if (defined $m->{id}) {
            $reply{$m->{id}} = $m;
            return;
        }
        push @events, $m;
        my $p = $m->{params};
        if ($m->{method} eq 'Runtime.consoleAPICalled'
            && $p->{type} =~ /^(error|assert)$/)
        {
            push @console, join ' ', map { $_->{value} // $_->{description}
                                           // '' } @{ $p->{args} };
        } elsif ($m->{method} eq 'Runtime.exceptionThrown') {
            push @console, $p->{exceptionDetails}{exception}{description}
                           // $p->{exceptionDetails}{text};
        } elsif ($m->{method} eq 'Log.entryAdded'
                 && $p->{entry}{level} eq 'error')
        {
            push @console, "$p->{entry}{source}: $p->{entry}{text} "
                           . ($p->{entry}{url} // '');
        } elsif ($m->{method} eq 'Page.javascriptDialogOpening') {
            push @dialogs, $p->{message};
        }
    });
    $ws = $tx;
});

sub spin {
    my ($cond, $secs) = @_;
    my $deadline = time + ($secs // 30);
    until ($cond->()) {
        die 'DevTools: timed out' if time > $deadline;
        my $id = Mojo::IOLoop->timer(0.05 => sub {});
        Mojo::IOLoop->one_tick;
        Mojo::IOLoop->remove($id);
    }
}

spin(sub { $ws });

sub cdp_send {
    my ($method, %params) = @_;
    my $id = ++$seq;
    $ws->send(encode_json({ id => $id, method => $method,
                            params => \%params }));
    return $id;
}

sub cdp {
    my $id = cdp_send(@_);
    spin(sub { $reply{$id} });
    my $m = delete $reply{$id};
    die "$_[0]: $m->{error}{message}" if $m->{error};
    return $m->{result};
}

# a JavaScript expression's value, as JSON
sub js {
    my ($expr) = @_;
    my $res = cdp('Runtime.evaluate', expression => $expr,
                  returnByValue => \1, awaitPromise => \1);
    die "js: $res->{exceptionDetails}{text}" if $res->{exceptionDetails};
    return $res->{result}{value};
}

# polls the page until the expression is true
sub page_until {
    my ($expr, $secs) = @_;
    my $deadline = time + ($secs // 20);
    while (time < $deadline) {
        return 1 if js("!!($expr)");
        spin(sub { 1 });
        sleep 0.1;
    }
    return 0;
}

cdp('Runtime.enable');
cdp('Log.enable');
cdp('Page.enable');
cdp('Network.enable');
cdp('Network.setExtraHTTPHeaders', headers => {
    Authorization => 'Basic ' . encode_base64('ops:ops-pw', '') });

cdp('Page.navigate', url => "http://127.0.0.1:$P/dashboard");

ok(page_until('document.body && document.body.dataset.polls >= 1'),
   'the page loaded and read the status');

my $view = js(<<'JS');
({
  bridges: [...document.querySelectorAll('#bridges tr[data-bridge]')]
           .map(r => r.dataset.bridge + ':' + r.dataset.health),
  active: document.querySelector('[data-active]').dataset.active,
  activeRow: document.querySelector('#bridges tr.active').dataset.bridge,
  held: [...document.querySelectorAll('#slots tr[data-state=in_use]')]
        .map(r => r.dataset.slot + ':' + r.cells[2].textContent),
  stuck: [...document.querySelectorAll('#slots tr[data-state=stuck]')]
         .map(r => r.dataset.slot + ':' + r.cells[2].textContent),
  release: document.querySelectorAll('#slots button').length,
  adminButtons: document.querySelectorAll('#bridges button').length,
  denials: [...document.querySelectorAll('#denials tr[data-rule]')]
           .map(r => r.dataset.rule + ':' + r.cells[2].textContent + ':'
                     + r.cells[3].textContent),
  summary: document.getElementById('slots-summary').textContent,
  recovery: [...document.querySelectorAll('#recovery tr[data-call]')]
            .map(r => r.cells[0].textContent + ':' + r.cells[3].textContent
                      + ':' + r.cells[4].textContent),
  recoverySummary: document.getElementById('recovery-summary').textContent,
  recoveryShown: !document.getElementById('recovery-section').hidden,
  recent: [...document.querySelectorAll('#recent li[data-rule]')]
          .map(r => r.dataset.rule + ':' + r.dataset.report + ':'
                    + r.querySelector('.reason').textContent)
})
JS

is_deeply($view->{bridges}, ['core1:up', 'core2:up'],
          'the page shows both bridges, up');
is($view->{active}, 'core1', 'the active bridge: core1');
is($view->{activeRow}, 'core1', 'marked in the table');
is_deeply($view->{held}, ['TMS_Scheduled_Meeting_1:Board Meeting'],
          'a held slot and its meeting');
is_deeply($view->{stuck}, ['TMS_Scheduled_Meeting_2:Forgotten Meeting'],
          'a stuck slot, flagged');
like($view->{summary}, qr/^2 of 5 slots in use \(40%\), 1 stuck/,
     'the pool summary');
is($view->{release}, 1, 'a release button for the stuck slot only');
ok($view->{recoveryShown}, 'the recovery section is shown (recovery=)');
is_deeply($view->{recovery}, ["$space{1}:core1:0"],
          'the meeting in progress kept for recovery: its coSpace, bridge, '
          . 'no dial-out');
like($view->{recoverySummary}, qr/^1 meetings kept; 0 calls recovered in 0 recoveries/,
     'the recovery summary');
is($view->{adminButtons}, 1, 'a failover button for the backup');
is_deeply($view->{denials}, ['keep-spaces:1:0', 'no-profiles:0:1'],
          'denials and report-only refusals, by rule');
is(scalar @{ $view->{recent} }, 2, 'two recent refusals, with why');
like($view->{recent}[0],
     qr/^no-profiles:1:403 invalidOperation policy rule no-profiles/,
     'the newest first: the report-only one, and what it would have answered');
like($view->{recent}[1], qr/^keep-spaces:0:policy rule keep-spaces/,
     'then the denial and its reason');

# --- a failover: the page follows without a reload

js('window.__notReloaded = 42');
my $polls = js('Number(document.body.dataset.polls)');

is($t->http('POST', $P, '/cms-admin/failover?to=core2', %ops)->{status},
   200, 'an operator fails over to core2 (outside the page)');

ok(page_until("document.querySelector('[data-active]').dataset.active "
              . "=== 'core2'"),
   'the page shows core2 active');
is(js('window.__notReloaded'), 42, 'without a reload');
ok(page_until("Number(document.body.dataset.polls) > $polls"),
   'by polling');
ok(page_until("document.querySelectorAll('#history li[data-epoch]')"
              . ".length === 1"),
   'the change is in the failover history');

# a screenshot for the README: a failover in the history, the stuck slot

my $png = decode_base64(cdp('Page.captureScreenshot', format => 'png')
                        ->{data});
like($png, qr/^\x89PNG\r\n/, 'a screenshot');
$t->write_file('dashboard.png', $png);
if ($ENV{UPDATE_SCREENSHOT}) {
    copy($t->dir . '/dashboard.png', "$ROOT/docs/dashboard.png")
        or die "docs/dashboard.png: $!";
}

# --- the release button asks first, then releases

# the click does not return before the dialog is answered
my $click = cdp_send('Runtime.evaluate', expression =>
    "document.querySelector('#slots tr[data-state=stuck] button').click()");
spin(sub { @dialogs });
like($dialogs[0], qr/^Release TMS_Scheduled_Meeting_2 \(ends Forgotten Meeting\)\?$/,
     'the release asks for confirmation');
cdp('Page.handleJavaScriptDialog', accept => \1);
spin(sub { $reply{$click} });
ok(page_until("document.querySelector("
              . "'#slots tr[data-slot=TMS_Scheduled_Meeting_2]')"
              . ".dataset.state === 'free'"),
   'accepted: the slot is released');

# --- the slot table's changes in the metrics, a reconciliation run too

is($t->http('POST', $P, '/cms-slots?reconcile', %ops)->{status}, 200,
   'a reconciliation is asked for');

sub slot_events {
    my $text = $t->http('GET', $P, '/metrics', %ops)->{content};
    return { $text =~ /^cms_slot_events_total\{action="(\w+)"\} (\d+)$/mg };
}

my $ev = {};
$deadline = time + 20;
while (time < $deadline) {
    $ev = slot_events();
    last if $ev->{reconciled};
    sleep 0.1;
}
is($ev->{reconciled}, 1, 'one reconciliation run counted');
is($ev->{checkout}, 3, 'three check-outs (TMS\'s session, then two meetings)');
is($ev->{stuck}, 1, 'one slot went stuck');
is($ev->{force_release}, 1, 'one forced release');

# --- nothing but this nginx, no console error

my @urls = map { $_->{params}{request}{url} }
           grep { $_->{method} eq 'Network.requestWillBeSent' } @events;
ok(@urls >= 4, scalar(@urls) . ' requests made by the page');
is_deeply([grep { !m{^http://127\.0\.0\.1:$P/} } @urls], [],
          'every one to this nginx');
is_deeply(\@console, [], 'no console error, no exception');

$ws->finish;
$t->stop_process('chromium');
$t->done;
