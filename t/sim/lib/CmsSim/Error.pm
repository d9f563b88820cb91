package CmsSim::Error;

# A CMS API failure: HTTP status plus one failureDetails reason.
# Store operations die with one of these; the API layer renders it as
#   <?xml version="1.0"?>\n<failureDetails><reason attr="..." /></failureDetails>

use v5.36;
use Exporter 'import';

our @EXPORT_OK = qw(fail not_found param_error);

sub new ($class, $status, $reason, $attrs = []) {
  return bless {status => $status, reason => $reason, attrs => $attrs}, $class;
}

sub status ($self) { $self->{status} }
sub reason ($self) { $self->{reason} }
sub attrs  ($self) { $self->{attrs} }

# 400 with a reason (e.g. duplicateCoSpaceUri, or xxxDoesNotExist for a
# bad reference inside a request body).
sub fail ($reason) { die __PACKAGE__->new(400, $reason) }

# 404 for an unknown object id in the request path (APIARY: "a request
# supplying a <coSpace id> which does not correspond to a valid coSpace
# object yields 404 Not Found").
sub not_found ($reason) { die __PACKAGE__->new(404, $reason) }

# 400 parameterError. The attribute shape is an inference (cms-api-notes
# 1.8, Q3); the error values used by the simulator are: missing,
# invalidValue, tooLong, outOfRange.
sub param_error ($parameter, $error) {
  die __PACKAGE__->new(400, 'parameterError', [[parameter => $parameter], [error => $error]]);
}

1;
