#!/usr/bin/env perl

# Cisco's own examples, reproduced: for every object type whose detail
# example in the blueprint (kept by t/sim/gen-blueprint in
# CmsSim::Blueprint) sets only fields a client can set, create the object
# with the example's values and read it back: the simulator's answer must
# be the example byte for byte (declaration, element order, defaults),
# with only the id changed.  Examples that show read-only state (an LDAP
# sync's progress, a streamer's status) or empty elements for unset
# fields cannot be produced by a client and are listed, not compared.

use v5.36;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sim/lib";

use Test::More;
use CmsTest;
use CmsSim::Blueprint;

my %KIND = %CmsSim::Blueprint::KIND;
my %NODE = %CmsSim::Blueprint::NODE;
my %HAND = map { $_ => 1 } qw(coSpaces calls callLegs callProfiles callLegProfiles
  cospaceBulkParameterSets cospaceBulkSyncs callBridges);

my $t = CmsTest->new;
$t->start_sim(bridges => [{ name => 'core1', user => 'admin', password => 'secret1' }],
              args => ['--fixture', 'empty']);
my $port = $t->port('core1');

sub esc ($s) { $s =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ger }

sub unxml ($s) {
    $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&quot;/"/g; $s =~ s/&apos;/'/g; $s =~ s/&amp;/&/g;
    return $s;
}

my (@compared, @not);
for my $kind (sort keys %KIND) {
    my $k = $KIND{$kind};
    my $ex = $k->{example} or next;
    next if $kind =~ /:id/ || !grep { $_ eq 'POST' } @{ $NODE{$kind}{methods} || [] };
    # the hand-written nodes follow the seed traces (t/seed.t, t/sim.t)
    next if $HAND{$kind};
    my ($inner) = $ex =~ m{^<\?xml version="1\.0"\?>\n<\Q$k->{tag}\E id="[^"]*">(.*)</\Q$k->{tag}\E>$}s
        or do { push @not, "$kind: the example is not one object"; next };

    my %field = map { $_->[0] => $_->[1] } @{ $k->{fields} };
    my (@pairs, $why);
    while ($inner =~ m{\G<(\w+)>([^<]*)</\1>}gc) { push @pairs, [$1, unxml($2)] }
    $why = 'its example has empty or nested elements' if (pos($inner) // 0) != length $inner;
    for my $p (@pairs) {
        my $f = $field{ $p->[0] };
        $why //= "<$p->[0]> is not a field a client sets" unless $f && $f->{writable};
        $why //= "<$p->[0]> refers to another object" if $f && $f->{ref};
    }
    if ($why) { push @not, "$kind: $why"; next }

    # the example's values; where a value is the blueprint's default, it
    # is left out and must come from the simulator
    my $body = join '&', map { "$_->[0]=" . esc($_->[1]) }
                         grep { ($field{ $_->[0] }{default} // "\0") ne $_->[1] } @pairs;
    my $r = $t->http('POST', $port, "/api/v1/$kind", body => $body,
                     user => 'admin', password => 'secret1');
    my ($id) = ($r->{headers}{location} // '') =~ m{/api/v1/\Q$kind\E/([0-9a-f-]{36})$};
    ok($id, "$kind: created from Cisco's example") or next;
    my $g = $t->http('GET', $port, "/api/v1/$kind/$id", user => 'admin', password => 'secret1');
    (my $want = $ex) =~ s/ id="[^"]*"/ id="$id"/;
    is($g->{content}, $want, "$kind: read back as Cisco's example");
    push @compared, $kind;
}

ok(@compared >= 9, scalar(@compared) . " object types reproduce Cisco's example: @compared");
note("not comparable: $_") for @not;

$t->done;
