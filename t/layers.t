#!/usr/bin/env perl

# The layers of the core point one way (README, Architecture), checked
# twice:
#
#  1. by #include: every quoted include of a file under ngx_cms_module/
#     or plugins/ must resolve to its own folder, a layer below, or
#     include/ (the public surface); a public header includes only public
#     headers; a plugin includes only include/ (and its own folder);
#     angle includes are nginx, libc, libxml2, hiredis, PCRE2 or include/;
#  2. by symbol: in the objects the build made, no function of a layer
#     calls one defined in a layer above it (a lower layer tells a higher
#     one something only through a callback the higher one registered).
#
# LAYERS_PLANT=<file> adds '#include "ngx_cms.h"' to a copy of that file
# in memory, to show the check fails on an upward include.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Find;
use File::Basename qw(basename dirname);
use CmsTest;

my $root = $CmsTest::ROOT;
my $core = "$root/ngx_cms_module";

# a layer may use the ones listed (and itself, and include/)
my %below = (
    lib     => [],
    util    => [qw(lib)],
    redis   => [qw(util lib)],
    cluster => [qw(util lib)],     # redis: through include/ngx_cms_redis.h
    http    => [qw(cluster util lib)],
);
my @order = qw(lib util redis cluster http);

my %where;      # header basename -> folder
for my $dir ('include', @order) {
    for my $h (glob "$core/$dir/*.h") {
        $where{basename $h} = $dir;
    }
}

my $system = qr{^(ngx_[a-z0-9_]+\.h|ngx_config\.h|libxml/|hiredis/|pcre2\.h|
                  std[a-z]+\.h|string\.h|stdio\.h|stdarg\.h|stdint\.h|
                  stddef\.h|ctype\.h|errno\.h|unistd\.h|fcntl\.h|setjmp\.h|
                  sys/|time\.h|limits\.h|math\.h|cmocka\.h|dirent\.h|
                  [a-z]*intrin\.h)}x;   # the compiler's SIMD intrinsics

my @files;
find(sub { push @files, $File::Find::name if /\.[ch]$/ }, $core, "$root/plugins");

my @bad;
for my $f (sort @files) {
    next if $f =~ m{/plugins/[^/]+/unit/|/test_[^/]+\.c$};

    my $rel = $f =~ s{^\Q$root/\E}{}r;
    my ($layer, $plugin);

    if ($rel =~ m{^ngx_cms_module/([^/]+)/}) {
        $layer = $1;
    } elsif ($rel =~ m{^plugins/([^/]+)/}) {
        $plugin = $1;
    } else {
        push @bad, "$rel: outside every layer";
        next;
    }

    open my $fh, '<', $f or die "$f: $!";
    my @lines = <$fh>;
    close $fh;
    push @lines, qq{#include "ngx_cms.h"\n}
        if $ENV{LAYERS_PLANT} && $rel eq $ENV{LAYERS_PLANT};

    for (@lines) {
        next unless /^\s*#\s*include\s*([<"])([^">]+)[">]/;
        my ($kind, $h) = ($1, $2);
        my $base = basename $h;

        if ($plugin) {
            next if -e dirname($f) . "/$h";
            next if ($where{$base} // '') eq 'include';
            next if $kind eq '<' && $h =~ $system;
            push @bad, "$rel includes $h: a plugin includes only include/";
            next;
        }

        my $to = $where{$base};

        # nginx's and the system's own headers, however they are quoted
        next if !defined $to && $h =~ $system;

        if (!defined $to) {
            push @bad, "$rel includes $h: not a header of any layer";
            next;
        }

        next if $to eq $layer;

        if ($layer eq 'include') {
            push @bad, "$rel includes $h ($to): a public header includes "
                     . 'only public headers';
            next;
        }

        next if $to eq 'include';
        next if grep { $_ eq $to } @{ $below{$layer} };

        push @bad, "$rel ($layer) includes $h ($to): against the layers";
    }
}

is(join("\n", @bad), '', 'every #include points down or to include/');

# --- no dead build switches: every NGX_CMS_* a source tests with #if is
# one the build scripts can set

my %settable;
for my $c ("$root/config", glob("$core/*/*.module"), glob("$root/plugins/*/config*")) {
    open my $fh, '<', $c or next;
    my $text = do { local $/; <$fh> };
    close $fh;
    $settable{$_} = 1 for $text =~ /\b(?:have=|ngx_feature_name=")(NGX_CMS_\w+)/g;
}

my @dead;
for my $f (sort @files) {
    open my $fh, '<', $f or die "$f: $!";
    while (<$fh>) {
        next unless /^\s*#\s*if(?:def)?\b.*\b(NGX_CMS_[A-Z0-9_]+)/;
        my $m = $1;
        next if $settable{$m};
        next if $m =~ /_INCLUDED_$/;
        push @dead, ($f =~ s{^\Q$root/\E}{}r) . ":$.: #if on $m, which no build "
                    . 'script sets';
    }
    close $fh;
}

is(join("\n", @dead), '', 'no build switch that nothing can turn on');

# --- 2. symbols, from the objects of the last build

my $objs = "$root/build/objs/addon";

SKIP: {
    skip 'no build objects (make first)', 1 unless -d "$objs/http";
    skip 'no nm', 1 unless `nm --version 2>/dev/null`;

    my (%defined_in, %uses);

    for my $layer (@order) {
        for my $o (glob "$objs/$layer/*.o") {
            for (`nm $o`) {
                if (/^\S+\s+[TDBR]\s+(ngx_cms_\w+|ngx_http_cms_\w+)$/) {
                    $defined_in{$1} = $layer;
                } elsif (/^\s+U\s+(ngx_cms_\w+|ngx_http_cms_\w+)$/) {
                    push @{ $uses{$layer} }, [basename($o), $1];
                }
            }
        }
    }

    # what include/ promises: the only functions of Redis others may call
    my %public;
    for my $h (glob "$core/include/*.h") {
        open my $fh, '<', $h or die "$h: $!";
        $public{$_} = 1 for do { local $/; <$fh> } =~ /\b(ngx_cms_\w+)\s*\(/g;
        close $fh;
    }

    my %rank;
    @rank{@order} = 0 .. $#order;
    $rank{cluster} = $rank{redis};          # siblings: neither calls the other

    my @up;
    for my $layer (@order) {
        for my $u (@{ $uses{$layer} || [] }) {
            my ($obj, $sym) = @$u;
            my $def = $defined_in{$sym} or next;
            next if $def eq $layer;
            # the others reach Redis only through its public API
            if ($def eq 'redis') {
                push @up, "$layer/$obj calls $sym, not in include/"
                    unless $public{$sym};
                next;
            }
            push @up, "$layer/$obj calls $sym ($def)"
                if $rank{$def} >= $rank{$layer};
        }
    }

    is(join("\n", @up), '', 'no layer calls a function of a layer above');
}

# One JSON writer: the escaper is the writer's own (lib/ngx_cms_json.c);
# everything else writes JSON strings through ngx_cms_json_string() and
# friends, never with an escaper of its own or nginx's ngx_escape_json().
{
    my @own;
    for my $c (glob("$core/*/*.c"), glob("$root/plugins/*/*.c")) {
        next if $c =~ m{/lib/ngx_cms_json(_escape)?\.c$};
        open my $fh, '<', $c or die "$c: $!";
        my $text = do { local $/; <$fh> };
        close $fh;
        for my $f (qw(ngx_cms_json_escape_utf8 ngx_cms_json_escaped_len
                      ngx_escape_json)) {
            push @own, "$c calls $f" if $text =~ /\b$f\s*\(/;
        }
    }
    is(join("\n", map { s{^\Q$root/\E}{}r } @own), '',
       'JSON strings only through the one writer');
}

done_testing();
