#!/usr/bin/env perl

# cms_auth_basic: API users checked against an htpasswd file read with the
# configuration.  Every hash nginx knows, the challenge, a worker's
# remembered password never letting another one in, roles from the
# verified user only (satisfy any, off, a name merely sent), a reload
# reading the file again, and the file's errors caught by nginx -t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP;
use Digest::SHA qw(sha1_base64);
use CmsTest;
use CmsWait qw(wait_for);

my $t = CmsTest->new;
my $json = JSON::PP->new;

$t->start_sim;

my $apr1 = `openssl passwd -apr1 tms-pw`;
chomp $apr1;
die "openssl passwd failed" unless $apr1 =~ /^\$apr1\$/;

my $sha512 = crypt('six-pw', '$6$ngxcmssalt$');
die "crypt() has no SHA-512" unless ($sha512 // '') =~ /^\$6\$/;

sub htpasswd {
    my ($tms_hash) = @_;
    return "# API users of the proxy\n"
         . "\n"
         . "tms:$tms_hash\n"
         . "ops:{PLAIN}ops-pw:the operators\n"
         . "sha:{SHA}" . sha1_base64('sha-pw') . "=\r\n"
         . "six:$sha512\n"
         . "mon:{PLAIN}mon-pw";                     # no newline at the end
}

$t->write_file('htpasswd', htpasswd($apr1));

# the file is read by the master: the workers' user needs no access
chmod 0600, $t->dir . '/htpasswd';

$t->write_conf(<<'EOF');
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    cms_role scheduler tms sha six;
    cms_role admin ops;
    cms_role monitor mon;
    cms_default_role guest;

    cms_policy_role scheduler method=GET coSpace.modify;
    cms_policy_role admin *;
    cms_policy_role monitor method=GET;
    cms_policy_role guest system.status.get;

    cms_audit_log %%TESTDIR%%/audit.log scope=all;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        cms_auth_basic htpasswd "realm=CMS API";

        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }

        location /open/ {
            cms_auth_basic off;
            cms_api on;
            cms_plugins policy audit;
            cms_credentials inject;
            rewrite ^/open(/.*)$ $1 break;
            proxy_pass http://cms;
        }
    }

    # an address rule OR a password: a wrong password is let in by the
    # address, and then must not carry the role of the name it claims
    server {
        listen 127.0.0.1:%%PORT_any%%;

        satisfy any;
        allow 127.0.0.1;
        deny all;
        cms_auth_basic htpasswd;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;
            cms_credentials inject;
            proxy_pass http://cms;
        }
    }
}
EOF

$t->run_nginx(ports => [map { $t->port($_) } qw(proxy any)]);

my $proxy = $t->port('proxy');

sub get {
    my ($user, $password, %opt) = @_;
    return $t->http('GET', $opt{port} // $proxy, $opt{path} // '/api/v1/coSpaces',
                    defined $user ? (user => $user, password => $password) : ());
}

sub records {
    return map { $json->decode($_) }
           grep { length } split /\n/, ($t->read_file('audit.log') // '');
}

# the record is written in the log phase, after the answer: wait for it
sub last_record {
    my ($before) = @_;
    my @r;
    wait_for('one more audit record', sub { @r = records(); @r > $before });
    return $r[-1];
}


# --- the challenge

my $r = get(undef);
is($r->{status}, 401, 'no credentials: 401');
is($r->{headers}{'www-authenticate'}, 'Basic realm="CMS API"',
   '... with the challenge and its realm');

$r = get('tms', 'wrong');
is($r->{status}, 401, 'a wrong password: 401');
is($r->{headers}{'www-authenticate'}, 'Basic realm="CMS API"', '... challenged');

$r = get('nobody', 'tms-pw');
is($r->{status}, 401, 'a user the file does not have: 401');

$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => 'Basic !!!not-base64' });
is($r->{status}, 401, 'credentials that do not decode: 401');

$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => 'Bearer abc' });
is($r->{status}, 401, 'another scheme: 401');

like($t->error_log, qr/cms: user "tms": password mismatch/,
     'the error log says which user gave a wrong password');
like($t->error_log, qr/cms: user "nobody" was not found/,
     '... and which user is not in the file');


# --- every hash, and the roles they verify

for my $u (['tms', 'tms-pw', '$apr1$'], ['sha', 'sha-pw', '{SHA}'],
           ['six', 'six-pw', '$6$ (crypt)'], ['ops', 'ops-pw', '{PLAIN} with a comment'],
           ['mon', 'mon-pw', '{PLAIN} on a last line without a newline']) {
    my ($user, $pw, $kind) = @$u;
    my $n = records();
    $r = get($user, $pw);
    is($r->{status}, 200, "$user ($kind): 200");
    my $rec = last_record($n);
    is($rec->{user}, $user, "... the audit record names $user as the user");
}

my $n = records();
get('tms', 'tms-pw');
is(last_record($n)->{role}, 'scheduler', 'tms has the role of its verified name');

$n = records();
get('ops', 'ops-pw');
is(last_record($n)->{role}, 'admin', 'ops is an admin');


# --- the remembered password lets only itself in

for my $i (1 .. 3) {
    is(get('tms', 'tms-pw')->{status}, 200, "tms again ($i): 200");
}

is(get('tms', 'tms-pw2')->{status}, 401,
   'after the right one was remembered, a longer wrong one: 401');
is(get('tms', 'tms-pX')->{status}, 401, '... a wrong one of the same length: 401');
is(get('tms', '')->{status}, 401, '... an empty one: 401');
is(get('ops', 'tms-pw')->{status}, 401, "... tms's password for ops: 401");
is(get('tms', 'tms-pw')->{status}, 200, '... and the right one still: 200');

use MIME::Base64 qw(encode_base64);
my $b64 = encode_base64('tms:tms-pw', '');

$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => "Basic  $b64" });
is($r->{status}, 200, 'the remembered password in another spelling of the header: 200');
(my $other = $b64) =~ s/^(....)(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => "Basic $other" });
is($r->{status}, 401, 'the remembered header with one byte changed: 401');
$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => "Basic $b64" . 'AA' });
is($r->{status}, 200,
   'bytes after the padding (nginx decodes up to the first "="): 200, as auth_basic');
$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => 'Basic ' . encode_base64('tms:tms-pw ', '') });
is($r->{status}, 401, 'the remembered password with a byte added: 401');
$n = records();
$r = $t->http('GET', $proxy, '/api/v1/coSpaces',
              headers => { Authorization => "Basic $b64" });
is($r->{status}, 200, 'the remembered header again: 200');
is(last_record($n)->{user}, 'tms', '... as tms');


# --- roles only from a verified user

my $any = $t->port('any');

$n = records();
$r = get('ops', 'wrong', port => $any);
is($r->{status}, 403,
   'satisfy any, a wrong password let in by the address: the policy refuses (guest)');
my $rec = last_record($n);
ok(!defined $rec->{user}, '... no user in the audit record');
is($rec->{role}, 'guest', '... the default role');

$n = records();
$r = get('ops', 'ops-pw', port => $any);
is($r->{status}, 200, 'satisfy any, the right password: 200');
is(last_record($n)->{role}, 'admin', '... as admin');

$n = records();
$r = get('ops', 'ops-pw', path => '/open/api/v1/coSpaces');
is($r->{status}, 403, 'cms_auth_basic off: a name in Authorization counts for nothing');
is(last_record($n)->{role}, 'guest', '... the default role');


# --- a reload reads the file again

my $apr1b = `openssl passwd -apr1 tms-new`;
chomp $apr1b;
$t->write_file('htpasswd', htpasswd($apr1b));
$t->reload_nginx;

is(get('tms', 'tms-pw')->{status}, 401,
   'after a reload with a new password: the old one (remembered before) is refused');
is(get('tms', 'tms-new')->{status}, 200, '... the new one lets tms in');
is(get('ops', 'ops-pw')->{status}, 200, '... the others are unchanged');


# --- nginx -t

for my $case (
    ['a missing file', 'cms_auth_basic missing.htpasswd;',
     qr/open\(\) ".*missing\.htpasswd" failed/],
    ['a line without a colon', 'cms_auth_basic bad1;', qr/line 2: not "user:hash"/,
     "ok:{PLAIN}x\nnocolon\n"],
    ['an empty user', 'cms_auth_basic bad2;', qr/line 1: not "user:hash"/,
     ":{PLAIN}x\n"],
    ['a user twice', 'cms_auth_basic bad3;', qr/line 3: user "a" again/,
     "a:{PLAIN}x\nb:{PLAIN}y\na:{PLAIN}z\n"],
    ['a bad parameter', 'cms_auth_basic htpasswd realm;',
     qr/invalid parameter "realm"/],
    ['a quote in the realm', q{cms_auth_basic htpasswd 'realm=a"b';},
     qr/realm "a"b" has a quote/],
    ['off with more', 'cms_auth_basic off realm=x;', qr/takes nothing after "off"/],
    ['twice', "cms_auth_basic htpasswd;\n        cms_auth_basic htpasswd;",
     qr/"cms_auth_basic" directive is duplicate/],
) {
    my ($name, $directive, $re, $file) = @$case;
    (my $fname) = $directive =~ /cms_auth_basic (\w+)/;
    $t->write_file($fname, $file) if defined $file;
    $t->write_conf(<<"EOF", 'bad.conf');
load_module %%MODULE%%;
error_log %%TESTDIR%%/error-t.log;
pid %%TESTDIR%%/bad.pid;
events {}
http {
    server {
        listen 127.0.0.1:%%PORT_bad%%;
        location /api/v1/ {
            $directive
        }
    }
}
EOF
    my ($ok, $out) = $t->nginx_t('bad.conf');
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "nginx -t names it: $name");
}

$t->done;
