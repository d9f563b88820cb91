package CmsSim::Params;

# Parser for application/x-www-form-urlencoded data (request bodies and
# query strings) with the leniency CMS clients need:
#
#  * empty components are legal: TMS's PUT body starts with "&"
#    ("&nonMemberAccess=true&passcode=...", seed 000 / cms-api-notes 1.3),
#    and "a=1&&b=2" is accepted;
#  * "+" is a space and %XX escapes are decoded to raw bytes; a malformed
#    escape ("%zz") is kept literally rather than rejected;
#  * a component without "=" is a parameter with an empty value;
#  * parameter names are matched case-insensitively (cms-api-notes 1.7 Q5:
#    clients send "coSpacefilter"; paths are case-insensitive too, 1.9), the
#    last occurrence of a name wins;
#  * an empty value is kept as "" (on PUT it means "unset", APIARY "PUT
#    Methods"), which is different from an absent parameter.
#
# Values are byte strings; nothing is decoded as UTF-8 here.

use v5.36;

sub _unescape ($s) {
  $s =~ tr/+/ /;
  $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
  return $s;
}

sub parse ($class, $string) {
  my $self = bless {values => {}, names => []}, $class;
  for my $component (split /&/, $string // '', -1) {
    next if $component eq '';
    my ($name, $value) = split /=/, $component, 2;
    $name = _unescape($name);
    next if $name eq '';
    my $key = lc $name;
    push @{$self->{names}}, $name unless exists $self->{values}{$key};
    $self->{values}{$key} = defined $value ? _unescape($value) : '';
  }
  return $self;
}

# Value of a parameter (undef when absent, '' when sent empty).
sub get ($self, $name) { $self->{values}{lc $name} }

sub has ($self, $name) { exists $self->{values}{lc $name} }

# True when the parameter is present with a non-empty value.
sub given ($self, $name) {
  my $v = $self->{values}{lc $name};
  return defined $v && length $v;
}

# Parameter names in first-seen order, with the client's spelling.
sub names ($self) { @{$self->{names}} }

1;
