package CmsSim::Util;

# Small helpers shared by the simulator modules: identifiers, secrets,
# timestamps and the byte/character conversions.
#
# Convention used everywhere in the simulator: values that came from the
# wire (paths, form values) are kept as BYTE strings and are written back
# as the same bytes. CMS never transcodes (cms-api-notes 1.4: non-ASCII
# names come back as the UTF-8 bytes that were sent), so neither do we.
# Characters only appear at the JSON edge (control API), see to_chars().

use v5.36;
use Exporter 'import';
use Digest::MD5 qw(md5);
use Encode ();
use MIME::Base64 qw(encode_base64url);
use POSIX qw(strftime);

our @EXPORT_OK = qw(guid stable_guid new_secret rfc3339_now to_chars to_bytes fold
  random_bytes);

my $urandom;

sub random_bytes ($n) {
  unless ($urandom) {
    open $urandom, '<:raw', '/dev/urandom' or die "cannot open /dev/urandom: $!";
  }
  my $buf;
  my $got = read $urandom, $buf, $n;
  die "short read from /dev/urandom" unless $got && $got == $n;
  return $buf;
}

sub _format_v4 ($bytes) {
  my @b = unpack 'C16', $bytes;
  $b[6] = ($b[6] & 0x0f) | 0x40;    # version 4
  $b[8] = ($b[8] & 0x3f) | 0x80;    # RFC 4122 variant
  return sprintf '%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x', @b;
}

# Object ids are lower-case v4 GUIDs, like every id in the seed traces.
sub guid () { _format_v4(random_bytes(16)) }

# Deterministic GUID derived from a name: used for the callBridges table so
# that a bridge keeps its id across restarts of the simulator.
sub stable_guid ($name) { _format_v4(md5("cms-sim callBridge $name")) }

# coSpace secrets look like APIARY's example "V_diBH_9ARvojUzOOy38Cg":
# 16 random bytes, base64url without padding (22 characters).
sub new_secret () { encode_base64url(random_bytes(16)) }

# cdrTime is RFC 3339 in UTC with a "Z" suffix (seed 000: 2016-07-26T14:08:19Z).
sub rfc3339_now () { strftime '%Y-%m-%dT%H:%M:%SZ', gmtime }

# Bytes -> characters for JSON output: UTF-8 when the bytes are valid UTF-8,
# otherwise one character per byte (so nothing is lost or replaced).
sub to_chars ($bytes) {
  return undef unless defined $bytes;
  my $copy  = $bytes;
  my $chars = eval { Encode::decode('UTF-8', $copy, Encode::FB_CROAK) };
  return defined $chars ? $chars : $bytes;
}

# Characters (from decoded JSON) -> UTF-8 bytes for storage.
sub to_bytes ($chars) {
  return undef unless defined $chars;
  return Encode::encode('UTF-8', $chars);
}

# Case-folded character form of a byte string, for case-insensitive
# substring filters (APIARY: filter=sales matches names including "sales").
sub fold ($bytes) { fc(to_chars($bytes) // '') }

1;
