#!/usr/bin/env perl

# The one JSON writer alone (ngx_cms_module/lib/ngx_cms_json.c is pure C):
# escaping of arbitrary bytes into valid one-line JSON, the validator that
# decides whether an event's detail is embedded as JSON, and the writer
# (what does not fit its buffer is counted, to the same length a big
# enough buffer gets written; a writer that grows its buffer writes the
# same text whatever size it starts from).  Built with the sanitizers
# when the compiler has them.

use strict;
use warnings;

use FindBin;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

my $root = "$FindBin::Bin/..";
my $src = "$root/ngx_cms_module/lib/ngx_cms_json.c "
        . "$root/ngx_cms_module/lib/ngx_cms_json_escape.c";
my $dir = tempdir('cms-json-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);

plan skip_all => 'no C compiler' unless `cc --version 2>/dev/null`;

open my $fh, '>', "$dir/t.c" or die;
print $fh <<'EOF';
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ngx_cms_json.h"

static size_t
unhex(const char *h, unsigned char *out)
{
    size_t  n = 0;

    while (h[0] && h[1]) {
        sscanf(h, "%2hhx", &out[n++]);
        h += 2;
    }

    return n;
}

/* the same document written by a counting and a writing pass */
/* as the core's pool writer grows: double, or more if asked */
static int
grow(ngx_cms_json_t *j, size_t need)
{
    size_t          len = j->pos - j->start, size = (j->end - j->start) * 2;
    unsigned char  *p;

    if (size < len + need) {
        size = len + need;
    }
    p = realloc(j->start, size);
    if (p == NULL) {
        return 0;
    }
    j->start = p;
    j->pos = p + len;
    j->end = p + size;
    return 1;
}

static void
doc(ngx_cms_json_t *j, const unsigned char *s, size_t n)
{
    static const char  raw[] = "{\"k\":\n[1, 2]}";

    ngx_cms_json_open(j, '{');
    ngx_cms_json_key(j, "a");
    ngx_cms_json_string(j, s, n);
    ngx_cms_json_key_n(j, s, n);
    ngx_cms_json_uint(j, 1795315355310ULL);
    ngx_cms_json_key(j, "list");
    ngx_cms_json_open(j, '[');
    ngx_cms_json_uint(j, 0);
    ngx_cms_json_uint(j, 7);
    ngx_cms_json_uint(j, 10);
    ngx_cms_json_uint(j, 99);
    ngx_cms_json_uint(j, 100);
    ngx_cms_json_uint(j, 909);
    ngx_cms_json_uint(j, 1000);
    ngx_cms_json_uint(j, 18446744073709551615ULL);
    ngx_cms_json_bool(j, 1);
    ngx_cms_json_null(j);
    ngx_cms_json_open(j, '{');
    ngx_cms_json_close(j, '}');
    ngx_cms_json_open(j, '[');
    ngx_cms_json_close(j, ']');
    ngx_cms_json_string_begin(j);
    ngx_cms_json_string_cpart(j, "x");
    ngx_cms_json_string_part(j, s, n);
    ngx_cms_json_string_end(j);
    ngx_cms_json_close(j, ']');
    ngx_cms_json_key(j, "empty");
    ngx_cms_json_string_or_null(j, s, 0);
    ngx_cms_json_key(j, "raw");
    ngx_cms_json_verbatim(j, (const unsigned char *) raw, sizeof(raw) - 1);
    ngx_cms_json_key_lit(j, "lit");
    ngx_cms_json_string_begin(j);
    ngx_cms_json_string_lit(j, "plain ");
    ngx_cms_json_string_part(j, s, n);
    ngx_cms_json_string_end(j);
    ngx_cms_json_member_str(j, "ms", s, n);
    ngx_cms_json_member_str(j, "mnull", s, 0);
    ngx_cms_json_member_uint(j, "m0", 0);
    ngx_cms_json_member_uint(j, "m9", 9);
    ngx_cms_json_member_uint(j, "m10", 10);
    ngx_cms_json_member_uint(j, "mtime", 1795315355310ULL);
    ngx_cms_json_member_uint(j, "mmax", 18446744073709551615ULL);
    ngx_cms_json_member_bool(j, "mt", 1);
    ngx_cms_json_member_bool(j, "mf", 0);
    ngx_cms_json_member_token(j, "mtok", (const unsigned char *) "tok-1", 5);
    ngx_cms_json_member_token(j, "mtok0", s, 0);
    ngx_cms_json_member_raw(j, "mraw", "[1,\"x\"]", 7);
    ngx_cms_json_member_raw(j, "mraw0", "0", 1);
    ngx_cms_json_key_lit(j, "kv");
    ngx_cms_json_open(j, '{');
    ngx_cms_json_member_kv(j, s, n, (const unsigned char *) "v1", 2);
    ngx_cms_json_member_kv(j, (const unsigned char *) "second", 6, s, n);
    ngx_cms_json_member_kv(j, (const unsigned char *) "third", 5, s, 0);
    ngx_cms_json_close(j, '}');
    ngx_cms_json_key_lit(j, "kvlist");
    ngx_cms_json_open(j, '[');
    ngx_cms_json_open(j, '{');
    ngx_cms_json_member_kv(j, (const unsigned char *) "a", 1, s, n);
    ngx_cms_json_close(j, '}');
    ngx_cms_json_close(j, ']');
    ngx_cms_json_close(j, '}');
}

int
main(void)
{
    char            line[65536];
    size_t          n, total, size;
    unsigned char   in[32768], *out, *end;
    ngx_cms_json_t  j;

    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        n = unhex(line + 2, in);

        switch (line[0]) {

        case 'e':
            out = malloc(ngx_cms_json_escaped_len(in, n) + 1);
            end = ngx_cms_json_escape_utf8(out, in, n);
            if ((size_t) (end - out) != ngx_cms_json_escaped_len(in, n)
                || (size_t) (end - out) > NGX_CMS_JSON_ESCAPED_MAX(n))
            {
                printf("LENGTH MISMATCH\n");
            }
            *end = '\0';
            printf("\"%s\"\n", out);
            free(out);
            break;

        case 'v':
            printf("%d\n", ngx_cms_json_valid(in, n));
            break;

        case 'd':
            ngx_cms_json_init(&j, NULL, 0);
            doc(&j, in, n);
            total = ngx_cms_json_length(&j);
            if (ngx_cms_json_fits(&j)) {
                printf("COUNTING WROTE\n");
            }

            /* every buffer too small: counted to the same length */

            for (size = 0; size < total; size++) {
                out = malloc(size + 1);
                out[size] = 0xa5;
                ngx_cms_json_init(&j, out, size);
                doc(&j, in, n);
                if (ngx_cms_json_fits(&j)
                    || ngx_cms_json_length(&j) != total)
                {
                    printf("LENGTH MISMATCH with %zu\n", size);
                }
                if (out[size] != 0xa5) {
                    printf("OVERRUN with %zu\n", size);
                }
                free(out);
            }

            out = malloc(total + 1);
            ngx_cms_json_init(&j, out, total);
            doc(&j, in, n);
            if (!ngx_cms_json_fits(&j)
                || ngx_cms_json_length(&j) != total
                || (size_t) (j.pos - out) != total)
            {
                printf("LENGTH MISMATCH\n");
            }

            /* growing from any first size: the same text, nothing lost */

            for (size = 1; size <= total; size++) {
                ngx_cms_json_init(&j, malloc(size), size);
                j.grow = grow;
                doc(&j, in, n);
                if (!ngx_cms_json_fits(&j)
                    || (size_t) (j.pos - j.start) != total
                    || memcmp(j.start, out, total) != 0)
                {
                    printf("GROW MISMATCH from %zu\n", size);
                }
                free(j.start);
            }

            out[total] = '\0';
            printf("%s\n", out);
            free(out);
            break;
        }

        fflush(stdout);
    }

    return 0;
}
EOF
close $fh;

my $san = `echo 'int main(void){return 0;}' | cc -fsanitize=address,undefined -x c -o $dir/probe - 2>&1; echo \$?` =~ /^0$/m;
my $flags = '-std=c99 -Wall -Wextra -Werror -g'
            . ($san ? ' -fsanitize=address,undefined -fno-sanitize-recover' : '');

my $out = `cc $flags -I$root/ngx_cms_module/include -o $dir/t $dir/t.c $src 2>&1`;
is($?, 0, 'the JSON code builds alone' . ($san ? ', with sanitizers' : ''))
    or diag($out);

sub run {
    my (@cmds) = @_;
    open my $in, '>', "$dir/in" or die;
    print $in map { "$_->[0] " . unpack('H*', $_->[1]) . "\n" } @cmds;
    close $in;
    my @r = split /\n/, `$dir/t < $dir/in 2>&1`;
    return @r;
}

my $json = JSON::PP->new->utf8->allow_nonref;

# --- escaping: every input gives valid JSON that decodes to the right text

my @esc = (
    [ 'plain', 'Tim Kratzke', 'Tim Kratzke' ],
    [ 'quote and backslash', "a\"b\\c", "a\"b\\c" ],
    [ 'short escapes', "\b\f\n\r\t", "\b\f\n\r\t" ],
    [ 'other controls', "\x00\x01\x1f\x7f", "\x00\x01\x1f\x7f" ],
    [ 'UTF-8 kept', "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "caf\x{e9} \x{20ac} \x{1f600}" ],
    [ 'stray continuation byte', "a\x80b", "a\x{80}b" ],
    [ 'truncated sequence', "\xe2\x82", "\x{e2}\x{82}" ],
    [ 'overlong slash', "\xc0\xaf", "\x{c0}\x{af}" ],
    [ 'overlong 3-byte', "\xe0\x80\xaf", "\x{e0}\x{80}\x{af}" ],
    [ 'UTF-16 surrogate', "\xed\xa0\x80", "\x{ed}\x{a0}\x{80}" ],
    [ 'beyond U+10FFFF', "\xf4\x90\x80\x80", "\x{f4}\x{90}\x{80}\x{80}" ],
    [ 'invalid lead bytes', "\xfe\xff\xc1", "\x{fe}\x{ff}\x{c1}" ],
    [ 'empty', '', '' ],
);

my @r = run(map { [ 'e', $_->[1] ] } @esc);

for my $i (0 .. $#esc) {
    my ($name, undef, $want) = @{ $esc[$i] };
    my $line = $r[$i] // '';
    my $got = eval { $json->decode($line) };
    is($got, $want, "escape: $name") or diag("line: $line $@");
    unlike($line, qr/[\x00-\x1f]/, "escape: $name: one line, no raw controls");
}

is($r[0], '"Tim Kratzke"', 'plain text is copied as is');
is($r[1], '"a\\"b\\\\c"', 'the two mandatory escapes');
is($r[3], '"\\u0000\\u0001\\u001f\\u007f"', 'controls as \\u00XX');

# --- escaping, at random: plain runs of every length around the eight
# bytes the fast path takes at once, mixed with escapes, UTF-8 and bytes
# that are not UTF-8; the expected text is worked out here, independently

my $utf8 = qr/
      [\xc2-\xdf][\x80-\xbf]
    | \xe0[\xa0-\xbf][\x80-\xbf]
    | [\xe1-\xec\xee\xef][\x80-\xbf]{2}
    | \xed[\x80-\x9f][\x80-\xbf]
    | \xf0[\x90-\xbf][\x80-\xbf]{2}
    | [\xf1-\xf3][\x80-\xbf]{3}
    | \xf4[\x80-\x8f][\x80-\xbf]{2}
/x;

sub expected {
    my ($s) = @_;
    my $o = '';
    while (length $s) {
        if ($s =~ s/^($utf8)//) {
            $o .= Encode::decode('UTF-8', $1);
        } else {
            $o .= substr($s, 0, 1, '');
        }
    }
    return $o;
}

require Encode;
srand(20261122);

my @pieces = ('a', 'Kratzke ', '0123456789abcdef', '"', '\\', "\n", "\t",
              "\x00", "\x1f", "\x7f", ' ', '~', "\xc3\xa9", "\xe2\x82\xac",
              "\xf0\x9f\x98\x80", "\x80", "\xff", "\xe2\x82", "\xed\xa0\x80",
              "\xc0\xaf");
my @rnd;
for my $i (1 .. 400) {
    my $s = 'x' x int(rand(20));
    $s .= $pieces[rand @pieces] for 1 .. int(rand(6));
    $s .= 'y' x int(rand(12));
    push @rnd, $s;
}

@r = run(map { [ 'e', $_ ] } @rnd);

my $bad = 0;
for my $i (0 .. $#rnd) {
    my $line = $r[$i] // '';
    my $got = eval { $json->decode($line) };
    next if defined $got && $got eq expected($rnd[$i])
            && $line !~ /[\x00-\x1f]|MISMATCH/;
    diag('random escape: ' . printable($rnd[$i]) . " -> $line");
    last if ++$bad > 5;
}
is($bad, 0, 'escape: 400 random strings');

sub printable {
    my ($s) = @_;
    $s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# --- the validator: what an event's detail must be to be embedded

my @valid = (
    '{}', '[]', '{"a":1}', ' {"a" : [1, -2.5e+3, true, false, null, "x"]} ',
    "{\n\"k\":\"v\"\n}", '"s"', '0', '-0.1', '{"u":"\\u00e9\\n\\/"}',
    "{\"k\":\"caf\xc3\xa9\"}", '[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]',
);
my @invalid = (
    '', ' ', '{', '}', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '[1 2]',
    '{a:1}', "{'a':1}", '01', '1.', '.5', '1e', '-', '+1', 'tru', 'nul',
    '"\\x"', '"\\u12"', "\"a\nb\"", "\"\x01\"", "{\"k\":\"\xff\"}",
    '{"a":1} x', '{"a":1}{}', 'NaN', '[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]',
);

@r = run(map { [ 'v', $_ ] } @valid, @invalid);

for my $i (0 .. $#valid) {
    is($r[$i], 1, 'valid: ' . printable($valid[$i]));
}
for my $i (0 .. $#invalid) {
    is($r[@valid + $i], 0, 'invalid: ' . printable($invalid[$i]));
}

# --- the writer: commas, nesting, counted == written

@r = run([ 'd', "k\"\xffv" ], [ 'd', '' ]);

for my $line (@r) {
    unlike($line, qr/MISMATCH/, 'counting and writing passes agree');
    my $d = eval { $json->decode($line) };
    ok(ref $d eq 'HASH', 'the document is valid JSON') or diag($line);
}

is_deeply($json->decode($r[0]), {
    a => "k\"\x{ff}v",
    "k\"\x{ff}v" => 1795315355310,
    list => [ 0, 7, 10, 99, 100, 909, 1000, '18446744073709551615',
              JSON::PP::true, undef, {}, [], "xk\"\x{ff}v" ],
    empty => undef,
    raw => { k => [ 1, 2 ] },
    lit => "plain k\"\x{ff}v",
    ms => "k\"\x{ff}v", mnull => undef, m0 => 0, m9 => 9, m10 => 10,
    mtime => 1795315355310, mmax => '18446744073709551615',
    mt => JSON::PP::true, mf => JSON::PP::false,
    mtok => 'tok-1', mtok0 => undef, mraw => [ 1, 'x' ], mraw0 => 0,
    kv => { "k\"\x{ff}v" => 'v1', second => "k\"\x{ff}v", third => '' },
    kvlist => [ { a => "k\"\x{ff}v" } ],
}, 'the document reads back as written');

# the second document: its string is empty, so some members are null
my $d2 = $json->decode($r[1]);
is_deeply([ @$d2{qw(ms mnull m10 mt)} ], [ undef, undef, 10, JSON::PP::true ],
          'members of an empty string are null, numbers and booleans as written');
is_deeply($d2->{kv}, { '' => 'v1', second => '', third => '' },
          'member_kv with an empty name and empty values');
unlike($r[0], qr/\n/, 'verbatim JSON loses its newlines, not its meaning');

done_testing();
