#!/usr/bin/env perl

# The configurations we ship stay valid: conf/production.conf passes
# nginx -t (with its files moved into the test directory) and so does
# conf/demo.conf.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use CmsTest;

my $t = CmsTest->new;
my $d = $t->dir;

sub slurp {
    open my $fh, '<', "$CmsTest::ROOT/$_[0]" or die "$_[0]: $!";
    local $/;
    return <$fh>;
}

system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=x "
       . "-keyout $d/key.pem -out $d/cert.pem 2>/dev/null") == 0
    or die "openssl failed";

$t->write_file('htpasswd', "tms:x\n");
mkdir "$d/spool";

my $prod = slurp('conf/production.conf');
$prod =~ s{/usr/lib/nginx/modules/ngx_http_cms_module\.so}{$CmsTest::MODULE};
$prod =~ s{^user .*$}{}m;
$prod =~ s{/var/log/nginx/}{$d/}g;
$prod =~ s{/var/spool/nginx/cms}{$d/spool}g;
$prod =~ s{/etc/ssl/cms-api\.example\.com\.pem}{$d/cert.pem}g;
$prod =~ s{/etc/ssl/cms-api\.example\.com\.key}{$d/key.pem}g;
$prod =~ s{/etc/ssl/cms-ca\.pem}{$d/cert.pem}g;
$prod =~ s{/etc/nginx/cms-\w+\.htpasswd}{$d/htpasswd}g;
$prod =~ s{listen 445 ssl;}{'listen 127.0.0.1:' . $t->port('prod') . ' ssl;'}e;
$prod = "pid $d/prod.pid;\n" . $prod;

$t->write_file('production.conf', $prod);

my ($ok, $out) = $t->nginx_t('production.conf');
ok($ok, 'conf/production.conf passes nginx -t') or diag($out);

my $demo = slurp('conf/demo.conf');
my %sub = (MODULE => $CmsTest::MODULE, PREFIX => $d, PORT => $t->port('demo'),
           CORE1 => $t->port('core1'), CORE2 => $t->port('core2'),
           REDIS => $t->port('redis'));
$demo =~ s/%%(\w+)%%/$sub{$1}/g;
$t->write_file('demo.conf', $demo);

($ok, $out) = $t->nginx_t('demo.conf');
ok($ok, 'conf/demo.conf passes nginx -t') or diag($out);

done_testing();
