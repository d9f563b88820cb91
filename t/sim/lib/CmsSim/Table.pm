package CmsSim::Table;

# An insertion-ordered set of objects keyed by id. CMS lists come back in a
# stable order and paging with offset/limit must be repeatable, so every
# collection is kept in creation order.

use v5.36;

sub new ($class) { bless {order => [], by_id => {}}, $class }

sub add ($self, $obj) {
  push @{$self->{order}}, $obj->{id};
  $self->{by_id}{$obj->{id}} = $obj;
  return $obj;
}

# Ids are matched verbatim (cms-api-notes 1.9: no evidence on GUID case,
# "keep it verbatim").
sub get ($self, $id) { defined $id ? $self->{by_id}{$id} : undef }

sub remove ($self, $id) {
  my $obj = delete $self->{by_id}{$id} or return undef;
  @{$self->{order}} = grep { $_ ne $id } @{$self->{order}};
  return $obj;
}

sub all ($self) { map { $self->{by_id}{$_} } @{$self->{order}} }

sub count ($self) { scalar @{$self->{order}} }

1;
