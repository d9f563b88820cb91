#!/usr/bin/env perl

# The policy rule language alone (plugins/policy/ngx_cms_policy_parse.c
# and ngx_cms_policy_match.c): builds and runs its cmocka unit test, under
# ASan and UBSan, with PCRE2 standing in for nginx's regex API.

use strict;
use warnings;

use FindBin;
use Test::More;

my $dir = "$FindBin::Bin/../plugins/policy/unit";

my $out = `make -s -C '$dir' 2>&1`;
my $rc = $? >> 8;

is($rc, 0, 'policy rule unit tests build and pass') or diag($out);
like($out, qr/\[  PASSED  \] (\d+) test\(s\)\./, 'cmocka reports the run');
my ($n) = $out =~ /\[==========\] (\d+) test\(s\) run\./;
cmp_ok($n // 0, '>=', 9, 'every unit test ran');
unlike($out, qr/FAILED|ERROR|runtime error|AddressSanitizer/,
       'no failure and no sanitizer report');

done_testing();
