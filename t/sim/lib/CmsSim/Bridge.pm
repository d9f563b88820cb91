package CmsSim::Bridge;

# One simulated call bridge's HTTP(S) front end: its listening socket, its
# Basic credentials, its fault mode, and the request pipeline
#
#   record request -> apply fault -> check credentials -> CMS API -> respond
#
# The listener is a Mojo::Server::Daemon with its default request handler
# replaced, so that the simulator controls every byte and every timing of
# the answer (or the absence of one).

use v5.36;
use Mojo::IOLoop;
use Mojo::URL;
use Mojo::Server::Daemon;
use Mojo::Util qw(b64_decode);
use IO::Compress::Gzip qw(gzip $GzipError);
use Scalar::Util qw(weaken);
use CmsSim::Hostile qw(garbage_body hostile_body huge_stream);

my @MODES = qw(none refuse hang status slow garbage hostile);

# %args: name, host, port, tls, user, password, cert, key, sim (CmsSim::Sim)
sub new ($class, %args) {
  my $self = bless {%args, fault => {mode => 'none'}, retired => []}, $class;
  $self->{initial_credentials} = [@args{qw(user password)}];
  weaken $self->{sim};
  return $self;
}

sub name ($self) { $self->{name} }
sub port ($self) { $self->{port} }
sub fault ($self) { $self->{fault} }
sub listening ($self) { !!$self->{daemon} }

sub url ($self) { ($self->{tls} ? 'https' : 'http') . "://$self->{host}:$self->{port}" }

# --- listening socket --------------------------------------------------------

sub listen ($self) {
  return if $self->{daemon};
  my $url = Mojo::URL->new($self->url);
  $url->query(cert => $self->{cert}, key => $self->{key}) if $self->{tls};
  my $daemon = Mojo::Server::Daemon->new(
    app    => CmsSim::Bridge::App->new,
    listen => [$url->to_string],
    silent => 1,

    # Apache on CMS answers "Keep-Alive: timeout=5, max=100" (BASIC-DOC).
    keep_alive_timeout => 5,
    max_requests       => 100,
  );
  weaken(my $weak = $self);
  $daemon->unsubscribe('request')->on(request => sub ($d, $tx) { $weak->_request($tx) if $weak });
  $daemon->start;
  $self->{port}   = $daemon->ports->[0];    # resolves port 0 on first start
  $self->{daemon} = $daemon;
}

# The "refuse" fault: close the listening socket itself, so that a connect
# gets ECONNREFUSED. Merely not accepting would not do: the kernel would
# still complete TCP handshakes into the backlog.
# The daemon object is kept (retired) so that connections it already
# accepted stay open: requests already hanging keep hanging.
sub close_listener ($self) {
  my $daemon = delete $self->{daemon} or return;
  my $loop   = Mojo::IOLoop->singleton;
  for my $id (@{$daemon->acceptors}) {
    my $server = $loop->acceptor($id) or next;
    $loop->remove($id);
    $server->stop;
    close $server->handle;
  }
  @{$daemon->acceptors} = ();
  push @{$self->{retired}}, $daemon;
}

# --- control ---------------------------------------------------------------

sub set_credentials ($self, $user, $password) { @$self{qw(user password)} = ($user, $password) }

sub reset_credentials ($self) { $self->set_credentials(@{$self->{initial_credentials}}) }

# Validates and installs a fault; returns an error string or undef.
sub set_fault ($self, $f) {
  my $mode = $f->{mode} // 'none';
  return "unknown mode '$mode'" unless grep { $_ eq $mode } @MODES;
  my %fault = (mode => $mode);
  if (defined $f->{path}) {
    my $re = eval { qr/$f->{path}/ } or return "invalid path regex: $@";
    @fault{qw(path path_re)} = ($f->{path}, $re);
  }
  if ($mode eq 'status') {
    my $status = $f->{status} // 503;
    return 'status must be 200..599' unless $status =~ /\A[0-9]+\z/ && $status >= 200 && $status <= 599;
    $fault{status} = $status;
    if (defined $f->{location}) {
      return 'location must be a path' unless $f->{location} =~ m{\A/[!-~]*\z};
      $fault{location} = $f->{location};
    }
  }
  if ($mode eq 'slow') {
    my $delay = $f->{delay_ms} // 1000;
    return 'delay_ms must be a non-negative integer' unless $delay =~ /\A[0-9]+\z/;
    $fault{delay_ms} = $delay;
  }
  if ($mode eq 'hostile') {
    my $kind = $f->{kind} // '';
    return "unknown hostile kind '$kind'" unless grep { $_ eq $kind } CmsSim::Hostile::KINDS;
    $fault{kind} = $kind;
    for my $opt (qw(size depth)) {
      next unless defined $f->{$opt};
      return "$opt must be a positive integer" unless $f->{$opt} =~ /\A[1-9][0-9]*\z/;
      $fault{$opt} = $f->{$opt};
    }
  }
  $self->{fault} = \%fault;

  # refuse closes the socket now; any other mode (re)opens it on the same
  # port. Either way the change is in effect when the control call returns.
  if ($mode eq 'refuse') { $self->close_listener }
  else { eval { $self->listen; 1 } or return "cannot listen on port $self->{port}: $@" }
  return undef;
}

sub fault_json ($self) {
  my %f = %{$self->{fault}};
  delete $f{path_re};
  return \%f;
}

# --- request pipeline ------------------------------------------------------

sub _request ($self, $tx) {
  my $req    = $tx->req;
  my $target = $req->{cms_raw_target} // $req->url->path_query;
  $self->{sim}->record_request($self, $req, $target);

  my $fault = $self->{fault};
  my $mode  = $fault->{mode};
  my $stream = Mojo::IOLoop->stream($tx->connection);

  # The listener is closed; this request came over a connection accepted
  # before. A bridge that went away would not answer it: drop it.
  if ($mode eq 'refuse') { $stream->close if $stream; return }

  $mode = 'none' if $fault->{path_re} && $target !~ $fault->{path_re};

  if ($mode eq 'hang') {

    # Read the request, never answer, and never time out.
    $stream->timeout(0) if $stream;
    return;
  }
  return $self->_respond($tx, $fault->{status},
    defined $fault->{location} ? [Location => $fault->{location}] : [], '')
    if $mode eq 'status';
  return $self->_respond($tx, 200, ['Content-Type' => 'text/xml'], garbage_body()) if $mode eq 'garbage';
  return $self->_hostile($tx, $fault) if $mode eq 'hostile';
  if ($mode eq 'slow') {
    $stream->timeout(0) if $stream;
    weaken(my $weak = $self);
    Mojo::IOLoop->timer($fault->{delay_ms} / 1000 => sub { $weak->_serve($tx) if $weak });
    return;
  }
  $self->_serve($tx);
}

sub _serve ($self, $tx) {
  my $req = $tx->req;

  # HTTP Basic per bridge. Missing or wrong credentials: 401, the challenge
  # CMS sends, empty body (seed 000, trace 9498).
  unless ($self->_authorized($req->headers->authorization)) {
    return $self->_respond($tx, 401, ['WWW-Authenticate' => 'Basic realm="acano"'], '');
  }
  my $target = $req->{cms_raw_target} // $req->url->path_query;
  my $res    = eval { $self->{sim}->api->handle($self->{name}, $req->method, $target, $req->body) };
  unless ($res) {

    # A simulator bug must not leave the client waiting forever.
    warn "cms-sim: internal error on $self->{name} for @{[$req->method]} $target: $@";
    $res = {status => 500, headers => [], body => ''};
  }
  $self->_respond($tx, $res->{status}, $res->{headers}, $res->{body});
}

sub _authorized ($self, $header) {
  return 0 unless defined $header && $header =~ /\A\s*Basic\s+(\S+)\s*\z/i;
  my $decoded = b64_decode($1) // return 0;
  my ($user, $password) = split /:/, $decoded, 2;
  return defined $password && $user eq $self->{user} && $password eq $self->{password};
}

# Headers Apache in front of CMS adds (BASIC-DOC raw responses).
sub _common_headers ($self, $h) {
  $h->server('Apache');
  $h->header('X-Frame-Options'           => 'DENY');
  $h->header('Strict-Transport-Security' => 'max-age=31536000; includeSubDomains');
}

sub _respond ($self, $tx, $status, $headers, $body) {
  my $res = $tx->res;
  $res->code($status);
  my $h = $res->headers;
  $self->_common_headers($h);
  my @pairs = @$headers;
  while (my ($name, $value) = splice @pairs, 0, 2) { $h->header($name => $value) }

  # Optional (control config "gzip"): Apache's mod_deflate compresses
  # text/xml for clients that accept it (BASIC-DOC shows
  # "Content-Encoding: gzip" and "Vary: Accept-Encoding").
  if ($self->{sim}->config->{gzip} && length $body && ($h->content_type // '') eq 'text/xml'
    && ($tx->req->headers->accept_encoding // '') =~ /\bgzip\b/i)
  {
    gzip(\$body => \my $zipped) or die "gzip failed: $GzipError";
    $body = $zipped;
    $h->header('Content-Encoding' => 'gzip');
    $h->header(Vary => 'Accept-Encoding');
  }
  $res->body($body);
  $tx->resume;
}

sub _hostile ($self, $tx, $fault) {
  return $self->_respond($tx, 200, ['Content-Type' => 'text/xml'], hostile_body($fault->{kind}, %$fault))
    unless $fault->{kind} eq 'huge';

  # Stream the huge document with a fixed Content-Length, one chunk per
  # drain, so memory stays flat whatever the size.
  my ($length, $next) = huge_stream($fault->{size} // CmsSim::Hostile::DEFAULT_HUGE);
  my $res = $tx->res;
  $res->code(200);
  $self->_common_headers($res->headers);
  $res->headers->content_type('text/xml');
  $res->headers->content_length($length);
  if (my $stream = Mojo::IOLoop->stream($tx->connection)) { $stream->timeout(0) }
  my $drain;
  $drain = sub ($content, @) {
    my $chunk = $next->();
    if (length $chunk) { $content->write($chunk => $drain) }
    else               { undef $drain }
  };
  $res->content->write($next->() => $drain);
  $tx->resume;
}

# ---------------------------------------------------------------------------
# Minimal application object for the daemon: it only builds transactions
# (with a request class that remembers the raw request-target) and provides
# a silent log.

package CmsSim::Bridge::App;
use Mojo::Base -base, -signatures;
use Mojo::Log;
use Mojo::Transaction::HTTP;

has log => sub { Mojo::Log->new(level => 'fatal') };

sub build_tx ($self) {
  my $tx = Mojo::Transaction::HTTP->new;
  $tx->req(CmsSim::Bridge::Request->new);
  return $tx;
}

sub server ($self, $server) { }

package CmsSim::Bridge::Request;
use Mojo::Base 'Mojo::Message::Request', -signatures;

# The request log must show the request-target exactly as received
# (Mojo::URL would re-escape it), so keep a copy of it before parsing.
sub extract_start_line ($self, $bufref) {
  $self->{cms_raw_target} = $1 if $$bufref =~ /\A\s*\S+[ \t]+(\S+)[ \t]+HTTP\/\d\.\d\x0d?\x0a/;
  return $self->SUPER::extract_start_line($bufref);
}

1;
