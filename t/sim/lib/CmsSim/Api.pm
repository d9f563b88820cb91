package CmsSim::Api;

# The CMS REST API of one call bridge, as a pure function of the request:
#   handle($bridge_name, $method, $raw_target, $body_bytes)
#     -> {status => N, headers => [name => value, ...], body => $bytes}
#
# Conventions reproduced (cms-api-notes section in brackets):
#   * base path /api/v1/, path segments case-insensitive, one trailing slash
#     tolerated [1.9]; ids are matched verbatim;
#   * every success is 200, never 201/204; create/modify/delete answer with
#     an empty body, a create adds "Location: /api/v1/<canonicalNode>/<id>"
#     (path only, canonical case even when the request used another) [1.2, 1.5];
#   * lists: total = number of matches, at most min(limit, page size) items
#     from offset; filters as in [1.6, 1.7];
#   * errors: failureDetails, 404 for an unknown id in the path, 400 for
#     invalid parameters or bad references in the body, 400
#     unrecognizedObject for an unknown node, 405 invalidOperation for a
#     method the node does not support [1.2, 1.8];
#   * bodies are form-urlencoded whatever the Content-Type says [1.3].

use v5.36;
use Scalar::Util qw(blessed);
use Mojo::Util qw(url_unescape);
use CmsSim::Error qw(param_error);
use CmsSim::Params;
use CmsSim::Generic;
use CmsSim::Schema ();
use CmsSim::Render qw(
  cospace_item cospace_detail profile_item profile_detail bulk_set_item bulk_set_detail
  bulk_sync call_item call_detail leg_item leg_detail participant_item participant_detail
  call_bridge_item call_bridge_detail system_status cluster_config system_load);
use CmsSim::Util qw(fold);
use CmsSim::XML qw(list_doc document failure_doc);

# config: hash ref shared with the control API ({page_size => N, ...}).
sub new ($class, %args) {
  return bless {
    store   => $args{store},
    config  => $args{config},
    started => time,
    generic => CmsSim::Generic->new(store => $args{store}, config => $args{config}),
  }, $class;
}

# Routing table: path pattern (":id" captures a segment, anything else is a
# case-insensitive literal) and the handler per method.
my @ROUTES = (
  ['system/status'                 => {GET => 'get_status'}],
  ['system/load'                   => {GET => 'get_load'}],
  ['system/configuration/cluster'  => {GET => 'get_cluster', PUT => 'modify_cluster', POST => 'modify_cluster'}],
  ['callBridges'                   => {GET => 'list_call_bridges'}],
  ['callBridges/:id'               => {GET => 'get_call_bridge'}],
  ['callProfiles'                  => {GET => 'list_profiles', POST => 'create_profile'}],
  ['callProfiles/:id'              => {GET => 'get_profile', PUT => 'modify_profile', DELETE => 'delete_profile'}],
  ['callLegProfiles'               => {GET => 'list_profiles', POST => 'create_profile'}],
  ['callLegProfiles/:id'           => {GET => 'get_profile', PUT => 'modify_profile', DELETE => 'delete_profile'}],
  ['cospaceBulkParameterSets'      => {GET => 'list_bulk_sets', POST => 'create_bulk_set'}],
  ['cospaceBulkParameterSets/:id'  => {GET => 'get_bulk_set', PUT => 'modify_bulk_set', DELETE => 'delete_bulk_set'}],
  ['cospaceBulkSyncs'              => {GET => 'list_bulk_syncs', POST => 'create_bulk_sync'}],
  ['cospaceBulkSyncs/:id'          => {GET => 'get_bulk_sync'}],
  ['coSpaces'                      => {GET => 'list_cospaces', POST => 'create_cospace'}],
  ['coSpaces/:id'                  => {GET => 'get_cospace', PUT => 'modify_cospace', DELETE => 'delete_cospace'}],
  ['calls'                         => {GET => 'list_calls', POST => 'create_call'}],
  ['calls/:id'                     => {GET => 'get_call', PUT => 'modify_call', DELETE => 'delete_call'}],
  ['calls/:id/callLegs'            => {GET => 'list_call_legs', POST => 'create_call_leg'}],
  ['calls/:id/participants'        => {GET => 'list_participants', POST => 'create_participant', PUT => 'bulk_participants'}],
  ['calls/:id/participants/*'      => {PUT => 'bulk_participants'}],
  ['callLegs'                      => {GET => 'list_call_legs'}],
  ['callLegs/:id'                  => {GET => 'get_call_leg', PUT => 'modify_call_leg', DELETE => 'delete_call_leg'}],
  ['participants'                  => {GET => 'list_participants'}],
  ['participants/:id'              => {GET => 'get_participant', PUT => 'modify_participant', DELETE => 'delete_participant'}],
  ['participants/:id/callLegs'     => {GET => 'list_participant_legs'}],
);
for my $route (@ROUTES) { $route->[0] = [split m{/}, $route->[0]] }

sub handle ($self, $bridge, $method, $target, $body) {
  my $res = eval { $self->_dispatch($bridge, $method, $target, $body) };
  return $res if $res;
  my $err = $@;
  die $err unless blessed $err && $err->isa('CmsSim::Error');
  return _xml($err->status, failure_doc($err->reason, $err->attrs));
}

sub _dispatch ($self, $bridge, $method, $target, $body) {
  my ($path, $query) = split /\?/, $target, 2;
  $path =~ s{\A[A-Za-z][A-Za-z0-9+.-]*://[^/]*}{};    # absolute-form request-target

  # Outside the API the web server answers 404 (no failureDetails: that
  # format belongs to the API).
  return {status => 404, headers => [], body => ''} unless $path =~ m{\A/api/v1(/.*)?\z}i;
  (my $rest = $1 // '') =~ s{/\z}{};
  $rest =~ s{\A/}{};
  my @segments = map { url_unescape $_ } split m{/}, $rest, -1;

  my ($route, @ids) = _match(\@segments);

  # Every other node of the blueprint: CmsSim::Generic.
  unless ($route) {
    my ($path, @gids) = CmsSim::Generic->match(\@segments);
    CmsSim::Error::fail('unrecognizedObject') unless $path;
    $self->{store}->run_due_syncs;
    my $ctx = {
      bridge => $bridge,
      method => $method,
      ids    => \@gids,
      query  => CmsSim::Params->parse($query),
      form   => CmsSim::Params->parse($body),
    };
    return $self->{generic}->handle($path, $ctx);
  }
  my $handler = $route->[1]{uc $method} // die CmsSim::Error->new(405, 'invalidOperation');

  # Bulk syncs with sync_delay_ms finish lazily: settle them before any
  # request can observe the database.
  $self->{store}->run_due_syncs;

  my $ctx = {
    bridge => $bridge,
    method => $method,
    ids    => \@ids,
    node   => $route->[0][0],
    query  => CmsSim::Params->parse($query),
    form   => CmsSim::Params->parse($body),
  };
  return $self->$handler($ctx);
}

# Every (pattern, method) the simulator serves, hand-written and generic,
# for the coverage test (t/api_nodes.t).
sub served ($class) {
  my %out;
  for my $route (@ROUTES) {
    my $p = join '/', @{$route->[0]};
    $out{$p}{$_} = 1 for keys %{$route->[1]};
  }
  for my $p (keys %CmsSim::Generic::NODE) {
    my ($hand) = grep { lc $_ eq lc $p } keys %out;
    next if $hand;    # a hand-written node wins; see _dispatch
    $out{$p}{$_} = 1 for CmsSim::Generic->methods($p);
  }
  return \%out;
}

sub _match ($segments) {
  return unless @$segments;
ROUTE: for my $route (@ROUTES) {
    my $pattern = $route->[0];
    next unless @$pattern == @$segments;
    my @ids;
    for my $i (0 .. $#$pattern) {
      my ($want, $got) = ($pattern->[$i], $segments->[$i]);
      if ($want eq ':id') {
        next ROUTE unless length $got;
        push @ids, $got;
      }
      elsif (lc $want ne lc $got) { next ROUTE }
    }
    return ($route, @ids);
  }
  return;
}

# --- response helpers ------------------------------------------------------

sub _xml ($status, $doc) { {status => $status, headers => ['Content-Type' => 'text/xml'], body => $doc} }

sub _ok () { {status => 200, headers => [], body => ''} }

sub _created ($node, $id) { {status => 200, headers => [Location => "/api/v1/$node/$id"], body => ''} }

# --- paging and filters ----------------------------------------------------

sub _uint_param ($q, $name) {
  return undef unless $q->given($name);
  my $v = $q->get($name);
  param_error($name, 'invalidValue') unless $v =~ /\A[0-9]{1,9}\z/;
  return $v + 0;
}

sub _list ($self, $ctx, $plural, $render, @items) {
  my $q      = $ctx->{query};
  my $offset = _uint_param($q, 'offset') // 0;
  my $limit  = _uint_param($q, 'limit');
  my $max    = $self->{config}{page_size};
  my $count  = defined $limit && $limit < $max ? $limit : $max;
  my $total  = @items;
  my $end    = $offset + $count > $total ? $total : $offset + $count;
  my @page   = $offset < $end ? @items[$offset .. $end - 1] : ();
  return _xml(200, list_doc($plural, $total, map { $render->($_) } @page));
}

# Case-insensitive substring match of a query parameter against any of the
# given values; an absent or empty filter matches everything (cms-api-notes
# 1.7: "tenantFilter=" does not restrict).
sub _substring_ok ($q, $name, @values) {
  return 1 unless $q->given($name);
  my $needle = fold($q->get($name));
  return !!grep { defined && index(fold($_), $needle) >= 0 } @values;
}

sub _equal_ok ($q, $name, $value) {
  return 1 unless $q->given($name);
  return ($value // '') eq $q->get($name);
}

# --- system ----------------------------------------------------------------

sub get_status ($self, $ctx) {
  my $rt = $self->{store}->rt($ctx->{bridge});
  return _xml(
    200,
    document(system_status(
      uptimeSeconds     => time - $self->{started},
      callLegsActive    => $rt->{callLegs}->count,
      callLegsMaxActive => $rt->{max_active},
      callLegsCompleted => $rt->{completed},
      clusterEnabled    => $self->{config}{clustered} ? 'true' : 'false',
    ))
  );
}

sub get_load ($self, $ctx) {
  return _xml(200, document(system_load($self->{store}->rt($ctx->{bridge})->{callLegs}->count)));
}

sub get_cluster ($self, $ctx) {
  my $state = $self->{store}->singleton("system/configuration/cluster $ctx->{bridge}");
  return _xml(200, document(cluster_config($self->{store}->bridge_by_name($ctx->{bridge})->{label}, $state)));
}

# APIARY: "Issue a PUT or a POST on the /system/configuration/cluster node";
# the fields are the blueprint's. The settings are each bridge's own.
# uniqueName stays the bridge's name in /callBridges: it is how clients
# find out which bridge they talk to.
sub modify_cluster ($self, $ctx) {
  my $state = $self->{store}->singleton("system/configuration/cluster $ctx->{bridge}");
  my $new = $self->{generic}->_apply($CmsSim::Generic::NODE{'system/configuration/cluster'}{fields}, $state, $ctx, 0);
  delete $new->{uniqueName};
  %$state = %$new;
  return _ok;
}

# --- callBridges -----------------------------------------------------------
# The table is the simulator's configuration, so it is read-only here.

# A CMS that is not clustered has an empty callBridges table. Its answer
# is Cisco's example (APIARY "Call Bridge Methods") byte for byte, the
# self-closed '<callBridges total="0"/>', rather than the open/close form of
# the simulator's other empty lists: that example is the only evidence of
# what an unclustered bridge sends.
use constant UNCLUSTERED_CALL_BRIDGES => qq{<?xml version="1.0"?>\n<callBridges total="0"/>};

sub list_call_bridges ($self, $ctx) {
  unless ($self->{config}{clustered}) {
    _uint_param($ctx->{query}, $_) for qw(offset limit);
    return _xml(200, UNCLUSTERED_CALL_BRIDGES);
  }
  return $self->_list($ctx, 'callBridges', \&call_bridge_item, $self->{store}->bridges);
}

sub get_call_bridge ($self, $ctx) {
  CmsSim::Error::not_found('callBridgeDoesNotExist') unless $self->{config}{clustered};
  my $bridge = $self->{store}->bridge_by_id($ctx->{ids}[0]) // CmsSim::Error::not_found('callBridgeDoesNotExist');
  return _xml(200, document(call_bridge_detail($bridge)));
}

# --- callProfiles / callLegProfiles ----------------------------------------

my %PROFILE = (
  callprofiles    => {kind => 'callProfiles',    tag => 'callProfile',    spec => \@CmsSim::Schema::CALL_PROFILE},
  calllegprofiles => {kind => 'callLegProfiles', tag => 'callLegProfile', spec => \@CmsSim::Schema::CALL_LEG_PROFILE},
);

sub _profile ($ctx) { $PROFILE{lc $ctx->{node}} }

sub list_profiles ($self, $ctx) {
  my $p     = _profile($ctx);
  my $store = $self->{store};
  my $usage = $ctx->{query}->get('usageFilter') // '';
  param_error('usageFilter', 'invalidValue') unless $usage =~ /\A(?:|referenced|unreferenced)\z/;
  my @items = grep {
    $usage eq '' || ($store->profile_is_referenced($p->{kind}, $_->{id}) xor $usage eq 'unreferenced')
  } $store->table($p->{kind})->all;
  return $self->_list($ctx, $p->{kind}, sub ($o) { profile_item($p->{tag}, $o) }, @items);
}

sub create_profile ($self, $ctx) {
  my $p = _profile($ctx);
  return _created($p->{kind}, $self->{store}->create_profile($p->{kind}, $ctx->{form}));
}

sub get_profile ($self, $ctx) {
  my $p = _profile($ctx);
  return _xml(200, document(profile_detail($p->{tag}, $p->{spec}, $self->{store}->get_profile($p->{kind}, $ctx->{ids}[0]))));
}

sub modify_profile ($self, $ctx) {
  my $p = _profile($ctx);
  $self->{store}->modify_profile($p->{kind}, $ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_profile ($self, $ctx) {
  my $p = _profile($ctx);
  $self->{store}->delete_profile($p->{kind}, $ctx->{ids}[0]);
  return _ok;
}

# --- cospaceBulkParameterSets / cospaceBulkSyncs ----------------------------
# Element and node names are spelt "cospace..." as the real CMS does
# (seed 000 Location headers and trace 8956).

sub list_bulk_sets ($self, $ctx) {
  return $self->_list($ctx, 'cospaceBulkParameterSets', \&bulk_set_item, $self->{store}->table('bulkSets')->all);
}

sub create_bulk_set ($self, $ctx) {
  return _created(cospaceBulkParameterSets => $self->{store}->create_bulk_set($ctx->{form}));
}

sub get_bulk_set ($self, $ctx) {
  return _xml(200, document(bulk_set_detail($self->{store}->get_bulk_set($ctx->{ids}[0]))));
}

sub modify_bulk_set ($self, $ctx) {
  $self->{store}->modify_bulk_set($ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_bulk_set ($self, $ctx) {
  $self->{store}->delete_bulk_set($ctx->{ids}[0]);
  return _ok;
}

sub list_bulk_syncs ($self, $ctx) {
  return $self->_list($ctx, 'cospaceBulkSyncs', \&bulk_sync, $self->{store}->table('bulkSyncs')->all);
}

sub create_bulk_sync ($self, $ctx) {
  return _created(cospaceBulkSyncs => $self->{store}->create_bulk_sync($ctx->{form}));
}

sub get_bulk_sync ($self, $ctx) {
  return _xml(200, document(bulk_sync($self->{store}->get_bulk_sync($ctx->{ids}[0]))));
}

# --- coSpaces --------------------------------------------------------------

sub list_cospaces ($self, $ctx) {
  my $q     = $ctx->{query};
  my @items = grep {
         _substring_ok($q, filter => @$_{qw(name uri secondaryUri callId)})
      && _equal_ok($q, tenantFilter         => $_->{tenant})
      && _equal_ok($q, callLegProfileFilter => $_->{callLegProfile})
  } $self->{store}->table('coSpaces')->all;
  return $self->_list($ctx, 'coSpaces', \&cospace_item, @items);
}

sub create_cospace ($self, $ctx) { _created(coSpaces => $self->{store}->create_cospace($ctx->{form})) }

sub get_cospace ($self, $ctx) {
  return _xml(200, document(cospace_detail($self->{store}->get_cospace($ctx->{ids}[0]))));
}

sub modify_cospace ($self, $ctx) {
  $self->{store}->modify_cospace($ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_cospace ($self, $ctx) {
  $self->{store}->delete_cospace($ctx->{ids}[0]);
  return _ok;
}

# --- calls -----------------------------------------------------------------

sub list_calls ($self, $ctx) {
  my $q     = $ctx->{query};
  my @items = grep {
    _equal_ok($q, coSpaceFilter => $_->{coSpace}) && _equal_ok($q, tenantFilter => $_->{tenant})
  } $self->{store}->rt($ctx->{bridge})->{calls}->all;
  return $self->_list($ctx, 'calls', \&call_item, @items);
}

sub create_call ($self, $ctx) { _created(calls => $self->{store}->create_call($ctx->{bridge}, $ctx->{form})) }

sub get_call ($self, $ctx) {
  my $store = $self->{store};
  my $call  = $store->get_call($ctx->{bridge}, $ctx->{ids}[0]);
  return _xml(200, document(call_detail($call, $store->call_counts($ctx->{bridge}, $call))));
}

sub modify_call ($self, $ctx) {
  $self->{store}->modify_call($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_call ($self, $ctx) {
  $self->{store}->delete_call($ctx->{bridge}, $ctx->{ids}[0]);
  return _ok;
}

# --- callLegs --------------------------------------------------------------

sub list_call_legs ($self, $ctx) {
  my $store   = $self->{store};
  my $call_id = $ctx->{ids}[0];
  $store->get_call($ctx->{bridge}, $call_id) if defined $call_id;
  my $q     = $ctx->{query};
  my @items = grep {
         (!defined $call_id || $_->{call} eq $call_id)
      && _substring_ok($q, filter => @$_{qw(name remoteParty)})
      && _equal_ok($q, participantFilter => $_->{participant})
      && _equal_ok($q, tenantFilter      => $_->{tenant})
  } $store->rt($ctx->{bridge})->{callLegs}->all;
  return $self->_list($ctx, 'callLegs', \&leg_item, @items);
}

# Location is the top-level /callLegs/<id> even though the POST went to
# /calls/<id>/calllegs (seed 000, trace 9506).
sub create_call_leg ($self, $ctx) {
  return _created(callLegs => $self->{store}->create_call_leg($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form}));
}

sub get_call_leg ($self, $ctx) {
  return _xml(200, document(leg_detail($self->{store}->get_call_leg($ctx->{bridge}, $ctx->{ids}[0]))));
}

sub modify_call_leg ($self, $ctx) {
  $self->{store}->modify_call_leg($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_call_leg ($self, $ctx) {
  $self->{store}->delete_call_leg($ctx->{bridge}, $ctx->{ids}[0]);
  return _ok;
}

# --- participants ----------------------------------------------------------

sub list_participants ($self, $ctx) {
  my $store   = $self->{store};
  my $call_id = $ctx->{ids}[0];
  $store->get_call($ctx->{bridge}, $call_id) if defined $call_id;
  my $own   = $store->bridge_by_name($ctx->{bridge})->{id};
  my $q     = $ctx->{query};
  my @items = grep {
         _substring_ok($q, filter => @{$_->{p}}{qw(name uri)})
      && _equal_ok($q, callBridgeFilter => $_->{remote} // $own)
      && _equal_ok($q, tenantFilter     => $_->{p}{tenant})
  } $store->participants_view($ctx->{bridge}, $call_id);
  return $self->_list($ctx, 'participants', \&participant_item, @items);
}

# Also the CMM move (movedParticipant=...): Location is the NEW
# participant's id (seed 004).
sub create_participant ($self, $ctx) {
  my $id = $self->{store}->create_participant($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form});
  return _created(participants => $id);
}

sub bulk_participants ($self, $ctx) {
  $self->{store}->bulk_modify_participants($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub get_participant ($self, $ctx) {
  return _xml(200, document(participant_detail($self->{store}->view_participant($ctx->{bridge}, $ctx->{ids}[0]))));
}

sub modify_participant ($self, $ctx) {
  $self->{store}->modify_participant($ctx->{bridge}, $ctx->{ids}[0], $ctx->{form});
  return _ok;
}

sub delete_participant ($self, $ctx) {
  $self->{store}->delete_participant($ctx->{bridge}, $ctx->{ids}[0]);
  return _ok;
}

# APIARY: only local call legs are listed; a participant hosted elsewhere
# has none here.
sub list_participant_legs ($self, $ctx) {
  my $store = $self->{store};
  my $entry = $store->view_participant($ctx->{bridge}, $ctx->{ids}[0]);
  my $rt    = $store->rt($ctx->{bridge});
  my @legs  = $entry->{remote} ? () : grep { defined } map { $rt->{callLegs}->get($_) } @{$entry->{p}{legs}};
  return $self->_list($ctx, 'callLegs', \&leg_item, @legs);
}

1;
