package CmsSim::Control;

# The control API (JSON over plain HTTP, no authentication) used by tests
# and by `make run` to inspect and steer the simulator. See t/sim/README.md
# for the endpoint reference.

use v5.36;
use Mojolicious;
use Mojo::JSON ();
use Scalar::Util qw(blessed);
use CmsSim::Util qw(random_bytes to_bytes);

sub _error ($c, $status, $message) { $c->render(status => $status, json => {error => $message}) }

sub _json_body ($c) {
  my $json = $c->req->json;
  return ref $json eq 'HASH' ? $json : undef;
}

# JSON booleans, "true"/"false" and 1/0 all accepted.
sub _bool ($v) {
  return undef unless defined $v;
  return $v ? 'true' : 'false' if blessed $v || $v =~ /\A[01]\z/;
  return $v if $v eq 'true' || $v eq 'false';
  return undef;
}

sub app ($class, $sim) {
  my $app = Mojolicious->new;
  $app->log->level('fatal');
  $app->secrets([unpack 'H*', random_bytes(16)]);
  my $r = $app->routes;

  # The controller runs inside the bridges' event loop, so every change is
  # in effect (sockets closed or reopened included) when the reply leaves.

  $r->get('/_sim/health' => sub ($c) { $c->render(json => {ok => Mojo::JSON::true}) });

  $r->get('/_sim/requests' => sub ($c) {
    my $bridge = $c->param('bridge');
    return _error($c, 404, "unknown bridge '$bridge'") if defined $bridge && !$sim->bridge($bridge);
    $c->render(json => $sim->requests($bridge));
  });

  $r->delete('/_sim/requests' => sub ($c) {
    $sim->clear_requests;
    $c->render(json => {ok => Mojo::JSON::true});
  });

  $r->get('/_sim/state' => sub ($c) { $c->render(json => $sim->state_json) });

  $r->post('/_sim/reset' => sub ($c) {
    my $err = $sim->reset;
    return _error($c, 500, $err) if $err;
    $c->render(json => {ok => Mojo::JSON::true});
  });

  $r->get('/_sim/config' => sub ($c) { $c->render(json => $sim->config) });

  $r->put('/_sim/config' => sub ($c) {
    my $json = _json_body($c) // return _error($c, 400, 'JSON object expected');
    my $err  = $sim->configure($json);
    return _error($c, 400, $err) if $err;
    $c->render(json => $sim->config);
  });

  $r->get('/_sim/bridges' => sub ($c) {
    $c->render(json => [
      map {
        {
          name      => $_->name,
          id        => CmsSim::Util::stable_guid($_->name),
          url       => $_->url,
          listening => $_->listening ? Mojo::JSON::true : Mojo::JSON::false,
          fault     => $_->fault_json,
        }
      } $sim->bridges
    ]);
  });

  my $bridge_or_404 = sub ($c) {
    my $br = $sim->bridge($c->stash('name'));
    _error($c, 404, 'unknown bridge ' . $c->stash('name')) unless $br;
    return $br;
  };

  $r->get('/_sim/bridges/:name/fault' => sub ($c) {
    my $br = $bridge_or_404->($c) or return;
    $c->render(json => $br->fault_json);
  });

  $r->put('/_sim/bridges/:name/fault' => sub ($c) {
    my $br    = $bridge_or_404->($c) or return;
    my $json = _json_body($c) // return _error($c, 400, 'JSON object expected');
    my $err  = $br->set_fault($json);
    return _error($c, 400, $err) if $err;

    # A bridge that dies (refuse, or hang on every path) loses its calls
    # as a CMS node does: its calls, call legs and participants are gone,
    # also after it comes back.  The clustered database stays.
    my $mode = $json->{mode} // '';
    $sim->store->crash_bridge($br->name)
      if $mode eq 'refuse' || ($mode eq 'hang' && !defined $json->{path});
    $c->render(json => $br->fault_json);
  });

  $r->put('/_sim/bridges/:name/credentials' => sub ($c) {
    my $br    = $bridge_or_404->($c) or return;
    my $json = _json_body($c) // return _error($c, 400, 'JSON object expected');
    return _error($c, 400, 'user and password are required')
      unless defined $json->{user} && defined $json->{password};
    $br->set_credentials(to_bytes($json->{user}), to_bytes($json->{password}));
    $c->render(json => {ok => Mojo::JSON::true});
  });

  $r->post('/_sim/participants' => sub ($c) {
    my $json = _json_body($c) // return _error($c, 400, 'JSON object expected');
    my $name = $json->{bridge} // '';
    return _error($c, 404, "unknown bridge '$name'") unless $sim->bridge($name);
    return _error($c, 400, 'call is required') unless defined $json->{call};
    my $can_move = exists $json->{canMove} ? _bool($json->{canMove}) : 'true';
    return _error($c, 400, 'canMove must be a boolean') unless defined $can_move;
    my $id = eval {
      $sim->store->add_guest(
        $name, $json->{call},
        name    => to_bytes($json->{name}),
        uri     => to_bytes($json->{uri}),
        canMove => $can_move,
      );
    };
    return _error($c, 404, "no call '$json->{call}' on bridge '$name'") unless defined $id;
    $c->render(json => {id => $id});
  });

  $r->put('/_sim/participants/:id' => sub ($c) {
    my $json     = _json_body($c) // return _error($c, 400, 'JSON object expected');
    my $can_move = _bool($json->{canMove});
    return _error($c, 400, 'canMove (boolean) is required') unless defined $can_move;
    return _error($c, 404, 'unknown participant ' . $c->stash('id'))
      unless $sim->store->set_can_move($c->stash('id'), $can_move);
    $c->render(json => {ok => Mojo::JSON::true});
  });

  return $app;
}

1;
