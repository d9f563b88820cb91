package CmsSim::Tls;

# A throw-away self-signed certificate for the tls=1 bridges when none is
# given on the command line. CN=localhost with SANs for localhost and
# 127.0.0.1, so a client may verify it against the address it dials once it
# trusts the file. EC keys: generation takes milliseconds, not seconds.

use v5.36;
use File::Temp qw(tempdir);
use POSIX ();

# Returns ($cert_file, $key_file) inside a directory removed at exit.
sub self_signed () {
  my $dir  = tempdir('cms-sim-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
  my $cert = "$dir/cert.pem";
  my $key  = "$dir/key.pem";
  my @cmd  = (
    qw(openssl req -x509 -nodes -days 3650 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1),
    -keyout => $key,
    -out    => $cert,
    -subj   => '/CN=localhost',
    -addext => 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  );
  my $pid = fork // die "fork: $!";
  if ($pid == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    exec @cmd or POSIX::_exit(127);
  }
  waitpid $pid, 0;
  die "openssl failed to create a self-signed certificate (exit status $?)\n" if $? || !-s $cert || !-s $key;
  return ($cert, $key);
}

1;
