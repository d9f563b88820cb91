#!/usr/bin/env perl

# Every directive the README documents (README.md and the plugins'
# READMEs) is written in the configuration of some t/*.t, as a line of
# its own (so an nginx under test parsed it, not only a string checked by
# "nginx -t" for its error message); and every name=value parameter the
# README's tables give a directive is written with it somewhere (in a
# test that configures the directive), and so are the values below that
# are easily left to their default.  A
# directive is a name the sources register as a command; the README's
# other cms_ words (variables, an upstream named cms_cluster) are not.

use strict;
use warnings;

use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

# the directives the sources register: ngx_string("cms_x"), then the
# contexts on the next line
my %command;
for my $c (glob("$root/ngx_cms_module/*/*.c"), glob("$root/plugins/*/*.c")) {
    $command{$_} = 1
        for slurp($c) =~ /\{\s*ngx_string\("(cms_\w+)"\),\s*\n\s*NGX_\w*CONF/g;
}
ok(scalar(keys %command) > 40, scalar(keys %command)
   . ' directives registered by the sources');

my @readmes = ("$root/README.md", glob("$root/plugins/*/README.md"));

# directive => { parameter => 1 } from the README tables' first cells
my %doc;
for my $f (@readmes) {
    my $text = slurp($f);
    for my $name ($text =~ /(?<![\$\w])(cms_[a-z_]+)/g) {
        $doc{$name} //= {} if $command{$name};
    }
    for my $row ($text =~ /^\|\s*`(cms_[a-z_]+[^`]*)`/mg) {
        my ($name, $rest) = $row =~ /^(\S+)\s*(.*)/;
        next unless $command{$name};
        $doc{$name}{$_} = 1 for $rest =~ /(?<![\w\$])([a-z_]+)=/g;

    }
}
ok(scalar(keys %doc) > 40, scalar(keys %doc) . ' directives documented');

# values written out, not left to the default
my @values = ('cms_credentials pass', 'cms_slot_reconcile_at_start on',
              'cms_slot_redis_down closed', 'cms_slot_redis_down open');

# the directives the tests configure, with their arguments: a directive
# at the start of a line or of a double-quoted Perl string, up to its ";"
# (arguments may go on over several lines); and the Perl strings of each
# test file that start with a name= (a test may build a directive's
# parameters in Perl: 'ssl_name=core.test')
my (@uses, %file_params);
for my $t (grep { !/directives_documented\.t$/ } glob "$root/t/*.t") {
    my $text = slurp($t);
    my @mine = map { s/\s+/ /gr }
        $text =~ /(?:^|")[ \t]*(cms_[a-z_]+(?:\s[^;]*)?);/mg;
    push @uses, @mine;
    my %p = map { $_ => 1 } $text =~ /['"]([a-z_]+)=/g;
    for my $u (@mine) {
        my ($name) = $u =~ /^(\S+)/;
        $file_params{$name}{$_} = 1 for keys %p;
    }
}

for my $name (sort keys %doc) {
    my @mine = grep { /^\Q$name\E(?: |$)/ } @uses;
    ok(@mine, "$name is configured by a test");
    for my $p (sort keys %{ $doc{$name} }) {
        ok((grep { / \Q$p\E=/ } @mine) || $file_params{$name}{$p},
           "$name $p= is configured by a test");
    }
}

for my $v (@values) {
    ok((grep { /^\Q$v\E$/ } @uses), "\"$v\" is written in a test");
}

done_testing();
