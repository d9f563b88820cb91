#!/usr/bin/env perl

# make test-deb: the Debian packages, installed on this machine next to
# Debian's nginx, the way README's "Install on a production host" says.
#
#   1. the packages in build/deb (make deb) install with apt-get;
#   2. nginx -t loads the module through /etc/nginx/modules-enabled (and
#      a site using cms_* directives fails -t before the install);
#   3. the system nginx, with a site laid out as the README says
#      (credentials file 0600, API users' file 0600 read by cms_auth_basic,
#      TLS to the bridges with verification on, Redis), fronts the CMS simulator on loopback:
#      the seed replays (TMS session of seed 000, CMM move of seed 004)
#      through it match the same sessions sent straight to the
#      simulator, and the status JSON reports the package's version;
#      an upgrade to a package one version up makes the running nginx run
#      the new module (a reload alone does not);
#   4. the example plugin, copied out of the -dev package's docs, builds
#      against /usr/include/nginx/cms and nginx-dev alone, and loads
#      (only) after the packaged module;
#   5. remove, then purge: nginx still starts, dpkg knows nothing of
#      ngx_cms, no file of it is left and /etc/nginx is as it was.
#
# Root only (it installs packages and runs the system nginx).  It leaves
# the machine as it found it: whatever it wrote under /etc/nginx is
# removed, the packages are purged, and the system nginx is left running
# or stopped as it was found, also when a check fails or it is
# interrupted.  Works with systemd (systemctl) and without (a container:
# nginx started and stopped directly).  Not part of "prove -r t/" (no .t):
# run by "make test-deb", after "make test".

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use File::Find qw(find);
use File::Copy qw(copy);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

use CmsTest;
use CmsSeed qw(tms_session cmm_move normalize id_of);
use CmsWait qw(wait_for);

BAIL_OUT('make test-deb runs as root (it installs packages)') if $>;

my $ROOT = $CmsTest::ROOT;
my @PKGS = qw(libnginx-mod-http-cms libnginx-mod-http-cms-dev);
my @DEBS = sort glob("$ROOT/build/deb/*.deb");
my $SO = '/usr/lib/nginx/modules/ngx_http_cms_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-cms.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-cms.conf';
my $INCLUDE = '/usr/include/nginx/cms';
my $DEVDOC = '/usr/share/doc/libnginx-mod-http-cms-dev';
my $SYSTEMD = -d '/run/systemd/system';

# other people's apt-get may hold dpkg's lock for a while: wait for it
my $APT = 'apt-get -o DPkg::Lock::Timeout=300';

BAIL_OUT("no packages in $ROOT/build/deb (make deb)") unless @DEBS == 2;

# what this test writes under /etc/nginx (all of it removed at the end)
my $CONFDIR = '/etc/nginx/ngx-cms-test';
my $HTTPCONF = '/etc/nginx/conf.d/ngx-cms-test.conf';
my $SITE = '/etc/nginx/sites-available/ngx-cms-test';
my $SITELINK = '/etc/nginx/sites-enabled/ngx-cms-test';
my $PLUGINCONF = '/etc/nginx/modules-enabled/60-ngx-cms-test-example.conf';
my $EARLYCONF = '/etc/nginx/modules-enabled/40-ngx-cms-test-example.conf';
my @OURS = ($HTTPCONF, $SITELINK, $SITE, $PLUGINCONF, $EARLYCONF);

sub sh {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? == 0, $out);
}

sub pkg_status {
    my ($p) = @_;
    my $s = `dpkg-query -W -f='\${db:Status-Status}' $p 2>/dev/null`;
    return $s eq '' ? 'not-installed' : $s;
}

# --- the machine as found

for my $p (@PKGS) {
    BAIL_OUT("$p is $_ already: test-deb would remove it; purge it first")
        for grep { $_ ne 'not-installed' } pkg_status($p);
}

BAIL_OUT("$_ exists: a test-deb run left it, or it is not ours")
    for grep { -e $_ || -l $_ } @OURS, $CONFDIR;

sub etc_nginx {
    my %f;
    find({ no_chdir => 1, wanted => sub {
        my $p = $File::Find::name;
        $f{$p} = -l $p ? 'link ' . readlink($p)
               : -d $p ? 'dir'
               : do { open my $fh, '<', $p; local $/; sha256_hex(<$fh> // '') };
    } }, '/etc/nginx');
    return \%f;
}

my $etc_before = etc_nginx();

sub nginx_running {
    if ($SYSTEMD) {
        system('systemctl --quiet is-active nginx');
        return $? == 0;
    }
    open my $fh, '<', '/run/nginx.pid' or return 0;
    my $pid = <$fh> // '';
    chomp $pid;
    return $pid =~ /^\d+$/ && kill(0, $pid);
}

my $was_running = nginx_running();

sub nginx_start {
    return sh($SYSTEMD ? 'systemctl start nginx' : '/usr/sbin/nginx');
}

sub nginx_reload {
    return sh($SYSTEMD ? 'systemctl reload nginx' : '/usr/sbin/nginx -s reload');
}

sub nginx_stop {
    if ($SYSTEMD) {
        return sh('systemctl stop nginx');
    }
    my ($ok, $out) = sh('/usr/sbin/nginx -s quit');
    wait_for('the system nginx to stop', sub { !nginx_running() }, 20);
    return ($ok && !nginx_running(), $out);
}

# Put the machine back whatever happened: our files out of /etc/nginx,
# the packages purged, nginx as it was.
my $restored;

sub restore {
    return if $restored++;

    system('rm', '-rf', $CONFDIR);
    unlink grep { -e $_ || -l $_ } @OURS;

    my @left = grep { pkg_status($_) ne 'not-installed' } @PKGS;
    if (@left) {
        system("DEBIAN_FRONTEND=noninteractive $APT purge -y -qq @left "
               . '>/dev/null 2>&1');
    }

    if (nginx_running() && !$was_running) {
        nginx_stop();
    } elsif ($was_running) {
        nginx_running() ? nginx_reload() : nginx_start();
    }
}

END { local $?; restore() }
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

# The harness (free loopback ports, the simulator, Redis) is made once
# the package is in: CmsTest insists on a module, and the one under test
# is the packaged one.
my ($t, $d, $P, $bridges);
my $apipass = 'tms-' . int(rand(1e9));

sub http_conf {
    my ($redis) = @_;
    return <<"EOF";
# ngx_cms test site (t/deb/test-deb.pl); removed when the test ends
cms_redis 127.0.0.1:$redis prefix=ngx-cms-test:;
cms_zone ngx_cms_test 4m;

upstream cms_test {
    include $CONFDIR/bridges.conf;

    cms_health_check interval=1s timeout=3s fall=2 rise=1;
    cms_health_ssl_trusted_certificate $d/ca.pem;
    cms_discovery off;

    keepalive 8;
}

cms_role scheduler tms;
EOF
}

sub site_conf {
    my ($extra) = @_;
    $extra //= '';
    return <<"EOF";
# ngx_cms test site (t/deb/test-deb.pl); removed when the test ends
server {
    listen 127.0.0.1:$P;

    location /api/v1/ {
        cms_auth_basic $CONFDIR/api.htpasswd "realm=CMS API";

        cms_api on;
        cms_credentials inject;
        cms_plugins audit$extra;
        cms_audit_log $d/audit.jsonl scope=all;

        proxy_pass https://cms_test;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $d/ca.pem;
        proxy_ssl_name bridges.cms.test;
        proxy_ssl_server_name on;
        proxy_connect_timeout 1s;
        proxy_read_timeout 30s;
    }

    location = /cms-status {
        cms_status;
        allow 127.0.0.1;
        deny all;
    }
}
EOF
}

sub spew {
    my ($path, $content, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    chmod $mode, $path if defined $mode;
}

sub write_site {
    my (%opt) = @_;

    mkdir $CONFDIR, 0755 unless -d $CONFDIR;

    # the bridges' API credentials: read by the master (root) only
    spew("$CONFDIR/bridges.conf", $bridges, 0600);

    # the clients' accounts (cms_auth_basic): read by the master too
    my $hash = `openssl passwd -apr1 '$apipass'`;
    chomp $hash;
    spew("$CONFDIR/api.htpasswd", "tms:$hash\n", 0600);

    spew($HTTPCONF, http_conf($opt{redis} // 6379));
    spew($SITE, site_conf($opt{plugins}));
    symlink $SITE, $SITELINK unless -l $SITELINK;
}

sub remove_site {
    system('rm', '-rf', $CONFDIR);
    unlink $HTTPCONF, $SITELINK, $SITE;
}

# --- 2a. before the install: the cms_* directives are unknown

spew($HTTPCONF, "cms_zone ngx_cms_test 4m;\n");
my ($ok, $out) = sh('nginx -t');
ok(!$ok, 'before the install, nginx -t refuses a configuration using the module');
like($out, qr/unknown directive "cms_zone"/, '... for its unknown cms_* directives');
unlink $HTTPCONF;

# --- 1. install

($ok, $out) = sh("DEBIAN_FRONTEND=noninteractive $APT install -y -q "
                 . "--no-install-recommends @DEBS");
ok($ok, 'apt-get install ./build/deb/*.deb') or diag($out);
like($out, qr/^Processing triggers for nginx /m,
     'the install asks nginx to reload (dh_nginx\'s nginx-reload trigger)');
is(pkg_status($_), 'installed', "$_ is installed") for @PKGS;

my $version = `dpkg-query -W -f='\${Version}' libnginx-mod-http-cms`;
my ($tree_version) = `grep -rh --include='*.h' NGX_CMS_VERSION $ROOT/ngx_cms_module`
                     =~ /^#define NGX_CMS_VERSION\s+"([^"]+)"/m;
is($version, $tree_version, "the package's version is NGX_CMS_VERSION");

my $files = `dpkg -L libnginx-mod-http-cms`;
like($files, qr/^\Q$SO\E$/m, "it ships $SO");
like($files, qr/^\Q$AVAILABLE\E$/m, "and $AVAILABLE");
like($files, qr{^/usr/share/doc/libnginx-mod-http-cms/examples/production\.conf$}m,
     'and the production example');

my $depends = `dpkg-query -W -f='\${Depends}' libnginx-mod-http-cms`;
my ($abi) = `dpkg-query -W -f='\${Provides}' nginx` =~ /(nginx-abi-[\w.~+-]+)/;
like($depends, qr/(?:^|, )\Q$abi\E(?:,|$)/,
     "it depends on the ABI of the installed nginx ($abi)");
like($depends, qr/\blibxml2\b/, 'and on libxml2');
like($depends, qr/\blibhiredis/, 'and on libhiredis');

is(readlink($ENABLED), $AVAILABLE, "enabled: $ENABLED");
like(`cat $AVAILABLE`, qr{^load_module modules/ngx_http_cms_module\.so;$}m,
     'the snippet loads the module');

like(`dpkg -L libnginx-mod-http-cms-dev`, qr{^\Q$INCLUDE\E/ngx_cms_plugin\.h$}m,
     "the -dev package ships the plugin header in $INCLUDE");

# --- the harness, certificates: a CA the bridges' certificate chains to

$CmsTest::MODULE = $SO;
$t = CmsTest->new;
$d = $t->dir;

my @ec = qw(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes);

sub openssl {
    my ($args) = @_;
    system("openssl $args >/dev/null 2>&1") == 0 or die "openssl $args";
}

openssl("req -x509 @ec -days 2 -subj /CN=ngx-cms-test-ca "
        . "-keyout $d/ca.key -out $d/ca.pem");
openssl("req @ec -subj /CN=bridges.cms.test -keyout $d/bridge.key "
        . "-out $d/bridge.csr");
$t->write_file('bridge.ext', 'subjectAltName=DNS:bridges.cms.test,'
               . "DNS:core1.cms.test,DNS:core2.cms.test\n");
openssl("x509 -req -in $d/bridge.csr -CA $d/ca.pem -CAkey $d/ca.key "
        . "-CAcreateserial -days 2 -extfile $d/bridge.ext -out $d/bridge.pem");

# the configuration, laid out as the README's install section says

$P = $t->port('proxy');

$bridges = <<"EOF";
cms_bridge core1 https://127.0.0.1:${\ $t->port('core1')} user=admin password=secret1 ssl_name=core1.cms.test;
cms_bridge core2 https://127.0.0.1:${\ $t->port('core2')} user=admin2 password=secret2 backup ssl_name=core2.cms.test;
EOF

# --- 2. nginx -t loads it through modules-enabled

($ok, $out) = sh('nginx -T');
ok($ok, 'nginx -t with the system configuration') or diag($out);
like($out, qr{^# configuration file \Q$ENABLED\E:\nload_module modules/ngx_http_cms_module\.so;}m,
     'the module comes from modules-enabled');

my $redis = $t->start_redis;

write_site(redis => $redis);

my @st = stat "$CONFDIR/bridges.conf";
is(sprintf('%04o %d', $st[2] & 07777, $st[4]), '0600 0',
   'the credentials file is 0600 root');
($ok, $out) = sh('nginx -t');
ok($ok, 'nginx -t with the site (the cms_* directives known)') or diag($out);

# --- 3. the system nginx fronts the simulator

$t->start_sim(bridges => [
    { name => 'core1', user => 'admin', password => 'secret1', tls => 1 },
    { name => 'core2', user => 'admin2', password => 'secret2', tls => 1 },
], args => ['--cert', "$d/bridge.pem", '--key', "$d/bridge.key"]);

open my $elog, '<', '/var/log/nginx/error.log';
seek $elog, 0, 2 if $elog;

($ok, $out) = nginx_running() ? nginx_reload() : nginx_start();
ok($ok, ($SYSTEMD ? 'systemctl' : 'nginx') . ' starts (or reloads) the system nginx with the site')
    or diag($out);
$t->wait_port($P);

my $status;
wait_for('core1 healthy in the status', sub {
    my $r = $t->http('GET', $P, '/cms-status');
    return 0 unless $r->{status} == 200;
    $status = $t->{json}->decode($r->{content});
    my ($b) = grep { $_->{name} eq 'core1' } @{ $status->{upstreams}[0]{bridges} };
    return $b && ($b->{health} // "") eq "up";
}, 30);

is($status->{ngx_cms}, $version, 'the status JSON reports the package version');
my ($core1) = grep { $_->{name} eq 'core1' } @{ $status->{upstreams}[0]{bridges} };
is($core1->{health}, 'up', 'the TLS health check (verification on) finds core1 up')
    or diag(explain($status));

sub client {
    my ($port, %auth) = @_;
    return sub {
        my ($method, $path, $body) = @_;
        return $t->http($method, $port, $path, body => $body, %auth);
    };
}

my $direct_client = sub {
    my ($method, $path, $body) = @_;
    return $t->http($method, $t->port('core1'), $path, body => $body,
                    https => 1, user => 'admin', password => 'secret1');
};
my $proxy_client = client($P, user => 'tms', password => $apipass);

# what the clients sent; the proxy's own health checks (User-Agent:
# ngx_cms) are not part of the session
sub requests_seen {
    return [ map { { method => $_->{method}, path => $_->{path},
                     body => $_->{body} } }
             grep { ($_->{headers}{'user-agent'} // '') ne 'ngx_cms' }
             @{ $t->sim_requests('core1') } ];
}

$t->sim('POST', '/_sim/reset');
$t->sim('DELETE', '/_sim/requests');
my $direct = tms_session($direct_client);
my $direct_seen = requests_seen();

$t->sim('POST', '/_sim/reset');
$t->sim('DELETE', '/_sim/requests');
my $proxied = tms_session($proxy_client);
my $proxied_seen = requests_seen();

is(scalar @$direct, 27, 'the TMS session of seed 000 has its 27 API calls');
is_deeply(normalize($proxied), normalize($direct),
          'TMS session through the packaged module: same answers as direct');
is_deeply(normalize($proxied_seen), normalize($direct_seen),
          'TMS session: the bridge received the same requests');
ok(!grep({ $_->{status} != 200 } @$proxied), 'every TMS step answered 200')
    or diag(explain([grep { $_->{status} != 200 } @$proxied]));

my $r = $t->http('GET', $P, '/api/v1/coSpaces');
is($r->{status}, 401, 'a client without an account is refused by the proxy');

# CMM move of seed 004

$t->sim('POST', '/_sim/reset');

my %c1 = (https => 1, user => 'admin', password => 'secret1');
my $space = id_of($t->http('POST', $t->port('core1'), '/api/v1/coSpaces',
    body => 'name=Space 1', %c1)->{headers}{location});
my $space2 = id_of($t->http('POST', $t->port('core1'), '/api/v1/coSpaces',
    body => 'name=Space 2', %c1)->{headers}{location});
my $call1 = id_of($t->http('POST', $t->port('core1'), '/api/v1/calls',
    body => "coSpace=$space", %c1)->{headers}{location});
my $pid = $t->sim('POST', '/_sim/participants',
    { bridge => 'core1', call => $call1, name => 'User X',
      canMove => JSON::PP::true })->{id};
my $call2 = id_of($t->http('POST', $t->port('core1'), '/api/v1/calls',
    body => "coSpace=$space2", %c1)->{headers}{location});

my $move = cmm_move($proxy_client, $call2, $pid);

is($move->[1]{status}, 200, 'CMM move of seed 004: answered 200');
like($move->[2]{content}, qr{<movedParticipant>\Q$pid\E</movedParticipant>},
     'the new participant names the old one');
is($move->[3]{status}, 404, 'the old participant is gone');

my @audit = map { $t->{json}->decode($_) } split /\n/, $t->read_file('audit.jsonl');
ok(scalar(grep { ($_->{operation} // '') eq 'participant.move' } @audit),
   'the built-in audit plugin recorded the move')
    or diag($t->read_file('audit.jsonl'));

# --- 3b. an upgrade: the new module runs, not only the new package
#
# A package one version up, built from the same source with the version
# raised in the two places it lives (NGX_CMS_VERSION, debian/changelog).

my $up_version = "$version+upgradetest";
my $up_src = "$d/upgrade/libnginx-mod-http-cms-$up_version";
system('mkdir', '-p', $up_src) == 0 or die;
system("cd $ROOT && { git ls-files -co --exclude-standard -- config "
       . "ngx_cms_module plugins conf README.md debian 2>/dev/null "
       . "|| find config ngx_cms_module plugins conf README.md debian -type f; } "
       . "| tar -cf - -T - | tar -xf - -C $up_src") == 0 or die;
system("grep -rl --include='*.h' '^#define NGX_CMS_VERSION' $up_src/ngx_cms_module "
       . "| xargs sed -i 's/^\\(#define NGX_CMS_VERSION[[:space:]]*\\)\"[^\"]*\"/\\1\"$up_version\"/'") == 0
    or die;
system("sed -i '1s/($version)/($up_version)/' $up_src/debian/changelog") == 0 or die;

($ok, $out) = sh("cd $up_src && dpkg-buildpackage -us -uc -b");
ok($ok, "a package of version $up_version builds") or diag($out);

my ($up_deb) = glob("$d/upgrade/libnginx-mod-http-cms_${up_version}_*.deb");

sub running_version {
    my $r = $t->http('GET', $P, '/cms-status');
    return $r->{status} == 200 ? $t->{json}->decode($r->{content})->{ngx_cms} : '';
}

($ok, $out) = sh("DEBIAN_FRONTEND=noninteractive $APT install -y -q "
                 . "--no-install-recommends $up_deb");
ok($ok, "apt-get install upgrades to $up_version") or diag($out);

# The postinst replaces the running nginx binary (USR2) through
# invoke-rc.d, as nginx's own package does; where the policy layer
# forbids touching services (containers: policy-rc.d), it does not, and
# the test does it the way invoke-rc.d would have.

if ($out =~ /Upgrading the running nginx/) {
    ok(wait_for('the new module to run',
                sub { running_version() eq $up_version }, 20),
       "the postinst upgraded the running nginx: the status says $up_version");
} else {
    ok(system('invoke-rc.d --quiet nginx status >/dev/null 2>&1') != 0,
       'invoke-rc.d may not act on nginx here (policy-rc.d): the postinst '
       . 'rightly left it alone');
    nginx_reload();
    sleep 2;     # time for a reload to have happened, were it to help
    is(running_version(), $version,
       'policy-rc.d kept the postinst off nginx; a reload alone keeps '
       . 'running the old module');
    ($ok, $out) = sh($SYSTEMD ? 'systemctl restart nginx'
                              : '/etc/init.d/nginx upgrade');
    ok($ok, 'what the postinst runs: the init script\'s upgrade (USR2)')
        or diag($out);
    ok(wait_for('the new module to run',
                sub { running_version() eq $up_version }, 20),
       "then the status says $up_version");
}

# --- 4. the example plugin, from the -dev package alone

my $ex = "$d/example";
system('cp', '-r', "$DEVDOC/examples/example", $ex) == 0
    or die "no example in $DEVDOC";

$t->write_file('before-example', '');
sleep 1.1;     # file times: the marker must be older than anything built

# README.Debian's recipe (nginx_mod's): configure in nginx-dev's tree,
# which it leaves untouched, everything written to the build directory
($ok, $out) = sh("cd /usr/share/nginx/src && bash -c '. ./conf_flags && "
    . './configure --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC -Werror" '
    . '--with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" '
    . "\"\${NGX_CONF_FLAGS[\@]}\" --add-dynamic-module=$ex "
    . "--builddir=$d/example-build && make -f $d/example-build/Makefile modules'");
ok($ok, 'the example builds against the installed header and nginx-dev')
    or diag($out);

is(`find /usr/share/nginx/src -newer $d/before-example`, '',
   'and nothing written into /usr/share/nginx/src');

my $so = "$d/example-build/ngx_cms_example_module.so";
my $mk = `cat $d/example-build/Makefile`;
like($mk, qr{-I \Q$INCLUDE\E\b}, "with $INCLUDE on the include path");
unlike($mk, qr{\Q$ROOT\E}, 'and nothing of the ngx_cms checkout');

# loaded before the core it cannot resolve its calls

spew($EARLYCONF, "load_module $so;\n");
($ok, $out) = sh('nginx -t');
ok(!$ok, 'loaded before the packaged module, the plugin fails nginx -t');
like($out, qr/undefined symbol: ngx_cms_/, '... for want of the core');
unlink $EARLYCONF;

spew($PLUGINCONF, "load_module $so;\n");
spew($SITE, site_conf(' example'));
($ok, $out) = sh('nginx -t');
ok($ok, 'loaded after it (60-...), nginx -t passes') or diag($out);
($ok, $out) = nginx_reload();
ok($ok, 'reload with the plugin') or diag($out);

# the old workers may still answer for a moment after the reload: wait
# until three answers in a row come from the new ones
my $in_a_row = 0;
wait_for('the example plugin to answer', sub {
    $r = $t->http('GET', $P, '/api/v1/system/status',
                  user => 'tms', password => $apipass);
    $in_a_row = ($r->{headers}{'x-cms-example'} // '') eq 'system.status.get'
                ? $in_a_row + 1 : 0;
    return $in_a_row >= 3;
}, 20);
is($r->{headers}{'x-cms-example'}, 'system.status.get',
   'the example plugin runs in the system nginx next to the packaged module');

# --- nginx's own log: nothing alarming since it was started

my $log = $elog ? do { local $/; <$elog> // '' } : '';
my @bad = grep { /\[(alert|emerg|crit)\]/ } split /\n/, $log;
is(join("\n", @bad), '', 'no [alert], [emerg] or [crit] in nginx\'s error.log');

# --- 5. remove, purge

unlink $PLUGINCONF;
remove_site();

($ok, $out) = sh("DEBIAN_FRONTEND=noninteractive $APT remove -y -q "
                 . "@PKGS");
ok($ok, 'apt-get remove') or diag($out);
like($out, qr/^Processing triggers for nginx /m, '... and so does the removal');
ok(!-e $ENABLED && -l "$ENABLED.removed",
   'removed: the module is disabled (the link kept as .removed)');
ok(!-e $SO, 'the module is gone');
($ok, $out) = sh('nginx -t');
ok($ok, 'nginx -t passes without it') or diag($out);

# (what remove took away entirely, the -dev package, apt no longer knows)
my @left = grep { pkg_status($_) ne 'not-installed' } @PKGS;
ok(@left, "after remove, dpkg still knows @left (its config)");
($ok, $out) = sh("DEBIAN_FRONTEND=noninteractive $APT purge -y -q @left");
ok($ok, 'apt-get purge') or diag($out);

for my $p (@PKGS) {
    is(pkg_status($p), 'not-installed', "$p is purged");
    my $l = `dpkg -L $p 2>/dev/null`;
    is($l, '', "dpkg -L $p lists nothing");
}

ok(!-e $_ && !-l $_, "$_ is gone")
    for $ENABLED, "$ENABLED.removed", $AVAILABLE, $INCLUDE, $DEVDOC, $SO,
        '/usr/share/doc/libnginx-mod-http-cms';

is_deeply(etc_nginx(), $etc_before, '/etc/nginx is as it was found');

# nginx still starts, with nothing of ngx_cms

($ok, $out) = nginx_running() ? nginx_reload() : nginx_start();
ok($ok && wait_for('nginx to run', \&nginx_running, 10),
   'the system nginx still starts') or diag($out);
($ok, $out) = sh('nginx -T');
unlike($out, qr/ngx_cms|cms_|mod-http-cms/,
       'and its configuration holds nothing of ngx_cms');

restore();
is(nginx_running() ? 1 : 0, $was_running ? 1 : 0,
   'the system nginx is ' . ($was_running ? 'running' : 'stopped')
   . ', as it was found');

# the simulator and Redis (the system nginx logs to /var/log/nginx,
# checked above)
$t->stop_process($_) for keys %{ $t->{pids} };

done_testing();
