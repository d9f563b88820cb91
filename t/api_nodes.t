#!/usr/bin/env perl

# The nodes Cisco's blueprint names and the nodes the simulator serves.
#
# The blueprint's list is the generated t/sim/lib/CmsSim/Blueprint.pm
# (t/sim/gen-blueprint read cms-api.apib once; the test does not read the
# blueprint).  For every node and every method the blueprint gives it, a
# running simulator must answer with something other than
# "unrecognizedObject" (an unknown node) or 405 "invalidOperation" (a
# method the node lacks).  What it does not serve is listed in %LEFTOVER
# below, each with the reason; a leftover that the simulator serves after
# all fails the test too, so the list stays true.

use v5.36;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sim/lib";

use Test::More;
use CmsTest;
use CmsSim::Blueprint;
use CmsSim::Api;

my %NODE = %CmsSim::Blueprint::NODE;

my %LEFTOVER = (
  # The callBridges table is the simulator's configuration (--bridge): the
  # listeners are the bridges. Creating or changing an entry would describe
  # a bridge that does not exist, so the table is read-only (405).
  'POST callBridges'       => 'the callBridges table is the configuration',
  'PUT callBridges/:id'    => 'the callBridges table is the configuration',
  'DELETE callBridges/:id' => 'the callBridges table is the configuration',

  # The blueprint's general rule "a POST creates, PUT modifies and DELETE
  # removes the object" would give bulk syncs a DELETE; a sync is a
  # finished operation in seed 000 and no source shows it deleted.
  'DELETE cospaceBulkSyncs/:id' => 'a bulk sync is a record of a finished operation',

  # callLegs are created under their call (POST /calls/<id>/callLegs, which
  # is served); the blueprint's PUT on the collection is a heading that
  # belongs to /callLegs/<id> (served).
  'PUT callLegs' => 'a call leg is modified by its id, /callLegs/<id>',
);

my $t = CmsTest->new;
$t->start_sim(bridges => [{ name => 'core1', user => 'admin', password => 'secret1' }]);
my $port = $t->port('core1');

my $ID = '00000000-0000-4000-8000-000000000000';

my (@served, @missing);
for my $node (sort keys %NODE) {
    (my $path = "/api/v1/$node") =~ s/:id/$ID/g;
    for my $method (@{ $NODE{$node}{methods} }) {
        my $r = $t->http($method, $port, $path,
                         ($method =~ /^(?:POST|PUT)$/ ? (body => '') : ()),
                         user => 'admin', password => 'secret1');
        my $unserved = $r->{status} == 405
            || ($r->{content} // '') =~ m{<failureDetails><(?:unrecognizedObject|invalidOperation) /></failureDetails>};
        my $key = "$method $node";
        if ($unserved) { push @missing, $key } else { push @served, $key }
    }
}

my %explained = %LEFTOVER;
my @unexplained = grep { !delete $explained{$_} } @missing;

ok(scalar(@served) > 150, scalar(@served) . ' (node, method) pairs of the blueprint answered');
is_deeply(\@unexplained, [], 'every node and method of the blueprint is served, or explained here')
    or diag(explain(\@unexplained));
is_deeply([sort keys %explained], [], 'every explained leftover is still a leftover')
    or diag(explain([sort keys %explained]));

# The simulator's own table agrees with what it answered.
my $table = CmsSim::Api->served;
for my $key (@served) {
    my ($m, $node) = split / /, $key, 2;
    my ($p) = grep { lc $_ eq lc $node } keys %$table;
    ok($p && $table->{$p}{$m}, "$key is in the simulator's table") or last;
}

# And the other way round: the simulator serves no node the blueprint
# does not name.
my %bp = map { lc($_) => 1 } keys %NODE;
my @extra = sort grep { !$bp{lc $_} } keys %$table;
is_deeply(\@extra, [], 'no node beyond the blueprint') or diag(explain(\@extra));

$t->done;
