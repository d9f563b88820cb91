package CmsSim::Sim;

# The whole simulated cluster: the bridges (one listener each), the shared
# store, the runtime configuration and the request log. The control API
# (CmsSim::Control) works on this object.

use v5.36;
use Time::HiRes ();
use Mojo::JSON ();
use Mojo::Util qw(b64_encode);
use CmsSim::Api;
use CmsSim::Bridge;
use CmsSim::Store;
use CmsSim::Util qw(stable_guid to_chars);

# Oldest entries are dropped beyond this, so that a long `make run` session
# does not grow without bound.
use constant MAX_LOGGED_REQUESTS => 10_000;

# %o: bridges => [{name, host, port, tls, user, password}], page_size,
#     fixture, cert, key, unclustered
sub new ($class, %o) {
  my $self = bless {
    defaults => {
      page_size     => $o{page_size} // 10,
      sync_delay_ms => 0,
      gzip          => Mojo::JSON::false,
      clustered     => $o{unclustered} ? Mojo::JSON::false : Mojo::JSON::true,
    },
    fixture  => $o{fixture} // 'default',
    requests => [],
    seq      => 0,
  }, $class;
  $self->{config} = {%{$self->{defaults}}};
  $self->{bridges} = [map { CmsSim::Bridge->new(%$_, cert => $o{cert}, key => $o{key}, sim => $self) } @{$o{bridges}}];
  return $self;
}

sub config ($self) { $self->{config} }
sub api    ($self) { $self->{api} }
sub store  ($self) { $self->{store} }

sub bridges ($self) { @{$self->{bridges}} }

sub bridge ($self, $name) { (grep { $_->name eq $name } @{$self->{bridges}})[0] }

# Open every listener, then build the callBridges table from the actual
# addresses (a configured port 0 is only known after listening).
sub start ($self) {
  $_->listen for @{$self->{bridges}};
  my @table = map {
    {
      name    => $_->name,
      id      => stable_guid($_->name),
      label   => 'CallBridge-' . $_->name,
      address => $_->url,
    }
  } @{$self->{bridges}};
  $self->{store} = CmsSim::Store->new(bridges => \@table, fixture => $self->{fixture});
  $self->{api}   = CmsSim::Api->new(store => $self->{store}, config => $self->{config});
  return $self;
}

# Runtime configuration (PUT /_sim/config). Returns an error string or undef.
sub configure ($self, $c) {
  for my $key (keys %$c) {
    return "unknown config key '$key'" unless exists $self->{defaults}{$key};
  }
  if (defined(my $n = $c->{page_size})) {
    return 'page_size must be a positive integer' unless $n =~ /\A[1-9][0-9]*\z/;
  }
  if (defined(my $n = $c->{sync_delay_ms})) {
    return 'sync_delay_ms must be a non-negative integer' unless $n =~ /\A[0-9]+\z/;
  }
  $self->{config}{page_size}     = 0 + $c->{page_size}     if defined $c->{page_size};
  $self->{config}{sync_delay_ms} = 0 + $c->{sync_delay_ms} if defined $c->{sync_delay_ms};
  $self->{config}{gzip} = $c->{gzip} ? Mojo::JSON::true : Mojo::JSON::false if exists $c->{gzip};
  $self->{config}{clustered} = $c->{clustered} ? Mojo::JSON::true : Mojo::JSON::false if exists $c->{clustered};
  $self->{store}->sync_delay_ms($self->{config}{sync_delay_ms});
  return undef;
}

# Back to the fixture, faults cleared, credentials and configuration as
# given on the command line. The request log is left alone (it has its own
# DELETE).
sub reset ($self) {
  %{$self->{config}} = %{$self->{defaults}};
  $self->{store}->sync_delay_ms(0);
  $self->{store}->reset;
  for my $br (@{$self->{bridges}}) {
    $br->reset_credentials;
    if (my $err = $br->set_fault({mode => 'none'})) { return $err }
  }
  return undef;
}

# Called for every request a bridge receives, before any fault or
# credential check. Strings are made JSON-safe; body_base64 keeps the exact
# bytes.
sub record_request ($self, $bridge, $req, $target) {
  my $h = $req->headers;
  my %headers;
  for my $name (@{$h->names}) {
    $headers{lc $name} = to_chars(join ', ', @{$h->every_header($name)});
  }
  my $body = $req->body;
  push @{$self->{requests}}, {
    seq         => ++$self->{seq},
    bridge      => $bridge->name,
    method      => $req->method,
    path        => to_chars($target),
    headers     => \%headers,
    body        => to_chars($body),
    body_base64 => b64_encode($body, ''),
    ts          => Time::HiRes::time(),
  };
  shift @{$self->{requests}} while @{$self->{requests}} > MAX_LOGGED_REQUESTS;
}

sub requests ($self, $bridge = undef) {
  return [grep { !defined $bridge || $_->{bridge} eq $bridge } @{$self->{requests}}];
}

sub clear_requests ($self) { @{$self->{requests}} = () }

sub state_json ($self) {
  $self->{store}->run_due_syncs;
  my $state = $self->{store}->snapshot;
  $state->{config} = {%{$self->{config}}};
  for my $br (@{$self->{bridges}}) {
    my $s = $state->{bridges}{$br->name};
    $s->{url}       = $br->url;
    $s->{listening} = $br->listening ? Mojo::JSON::true : Mojo::JSON::false;
    $s->{fault}     = $br->fault_json;
    $s->{user}      = $br->{user};
  }
  return $state;
}

1;
