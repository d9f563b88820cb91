package CmsSim::Generic;

# Every node of Cisco's blueprint that has no hand-written handler in
# CmsSim::Api, served from the tables CmsSim::Blueprint was generated with
# (t/sim/gen-blueprint): tenants, LDAP servers/mappings/sources/syncs, dial
# plan rules, profiles of every kind, TURN servers, web bridges, recorders,
# coSpace access methods and members, system singletons, ...
#
# What the tables give: methods, fields and their types (bool, int, enum,
# id), required fields, defaults, which kind an id refers to, list-item and
# detail element order, self-closed list items, the failure reason of an
# unknown id, and the example answers of read-only nodes. What is written
# here by hand, because the blueprint says it in words:
#   * a POST to a collection creates an object, answers 200 and
#     "Location: /api/v1/<collection>/<id>"; PUT omits = keep, empty =
#     unset; DELETE removes (APIARY "API Methods");
#   * objects under another (coSpaces/<id>/accessMethods, users/<id>/...)
#     belong to it: the parent must exist (404 <parent>DoesNotExist) and
#     lists show only its children;
#   * an id given in a body must name an existing object of its kind
#     (400 <kind>DoesNotExist), e.g. a tenant's callLegProfile;
#   * filter= is a case-insensitive substring of the listed text fields;
#     tenantFilter and <field>Filter compare with that field;
#     usageFilter=referenced|unreferenced looks for objects naming the id;
#   * singletons (system/profiles, system/configuration/*) start empty and
#     are changed with PUT (or POST where the blueprint says "PUT or POST");
#   * accessQuery and uriUsageQuery look the uri/callId up among coSpaces
#     and their access methods.

use v5.36;
use CmsSim::Blueprint;
use CmsSim::Error qw(fail not_found param_error);
use CmsSim::Util qw(guid fold);
use CmsSim::XML qw(el obj obj_empty list_doc document);

our %NODE = %CmsSim::Blueprint::NODE;
our %KIND = %CmsSim::Blueprint::KIND;

# Patterns, most literal first, so that "system/diagnostics/:id" never
# shadows a literal sibling.
my @PATTERNS = sort { ($a =~ tr/:/:/) <=> ($b =~ tr/:/:/) or $a cmp $b } keys %NODE;

sub new ($class, %args) { bless {store => $args{store}, config => $args{config}}, $class }

# ($path, @ids) of the blueprint node matching the segments, or ().
sub match ($class, $segments) {
PATTERN: for my $p (@PATTERNS) {
    my @want = split m{/}, $p;
    next unless @want == @$segments;
    my @ids;
    for my $i (0 .. $#want) {
      my ($w, $g) = ($want[$i], $segments->[$i]);
      if ($w eq ':id') { next PATTERN unless length $g; push @ids, $g }
      elsif (lc $w ne lc $g) { next PATTERN }
    }
    return ($p, @ids);
  }
  return;
}

sub methods ($class, $path) { @{$NODE{$path}{methods}} }

# --- failure reasons and references --------------------------------------------

sub missing_reason ($kind) {
  return $KIND{$kind}{missing} if $KIND{$kind};
  (my $tag = $kind) =~ s{.*/}{};
  $tag =~ s/s\z//;
  return "${tag}DoesNotExist";
}

# The objects a path goes through must exist: coSpaces/<id>/accessMethods
# and webBridges/<id>/status answer 404 coSpaceDoesNotExist /
# webBridgeDoesNotExist for an unknown id, as the hand-written nodes do.
# The last id of an object node is its handler's business.
sub _check_parents ($self, $ctx, $path) {
  my @segs = split m{/}, $path;
  my @ids  = @{$ctx->{ids}};
  my $prefix = '';
  my $n = 0;
  for my $i (0 .. $#segs) {
    if ($segs[$i] eq ':id') {
      my $kind = $prefix;
      my $id   = $ids[$n++];
      last if $i == $#segs;
      not_found(missing_reason($kind)) unless $self->{store}->exists_in($kind, $id, $ctx->{bridge});
    }
    $prefix = length $prefix ? "$prefix/$segs[$i]" : $segs[$i];
  }
}

# --- values ---------------------------------------------------------------------

sub _check_value ($self, $field, $spec, $value, $ctx) {
  my $type = $spec->{type};
  if ($spec->{ref}) {
    fail(missing_reason($spec->{ref})) unless $self->{store}->exists_in($spec->{ref}, $value, $ctx->{bridge});
  }
  elsif ($type eq 'bool') {
    param_error($field, 'invalidValue') unless $value eq 'true' || $value eq 'false';
  }
  elsif ($type eq 'int') {
    param_error($field, 'invalidValue') unless $value =~ /\A-?[0-9]{1,10}\z/;
  }
  elsif ($type eq 'enum' && @{$spec->{values} // []}) {
    param_error($field, 'invalidValue') unless grep { $_ eq $value } @{$spec->{values}};
  }
  return $value;
}

# Apply writable fields from the form to a copy of $obj; dies on the first
# bad value so that a failed request changes nothing.
sub _apply ($self, $fields, $obj, $ctx, $create) {
  my $form = $ctx->{form};
  my %new  = %$obj;
  for my $f (@$fields) {
    my ($name, $spec) = @$f;
    next unless $spec->{writable};
    if ($create && $spec->{required} && !$form->given($name)) { param_error($name, 'missing') }
    next unless $form->has($name);
    my $value = $form->get($name);
    if ($value eq '') { delete $new{$name}; next }
    $new{$name} = $self->_check_value($name, $spec, $value, $ctx);
  }
  if ($create) {
    for my $f (@$fields) {
      my ($name, $spec) = @$f;
      $new{$name} //= $spec->{default} if defined $spec->{default} && $spec->{type} ne 'str';
    }
  }
  return \%new;
}

# --- rendering --------------------------------------------------------------------

sub _item ($kind, $o) {
  my $k = $KIND{$kind};
  my @children = map { el($_, $o->{$_}) } @{$k->{list}};
  return obj_empty($k->{tag}, $o->{id}) if $k->{empty_item} && !grep { length } @children;
  return obj($k->{tag}, $o->{id}, @children);
}

sub _detail ($kind, $o) {
  my $k = $KIND{$kind};
  return obj($k->{tag}, $o->{id}, map { el($_->[0], $o->{$_->[0]}) } @{$k->{fields}});
}

sub _xml ($status, $doc) { {status => $status, headers => ['Content-Type' => 'text/xml'], body => $doc} }
sub _ok () { {status => 200, headers => [], body => ''} }

# The request path with its ids, in the blueprint's spelling of each node.
sub _canonical ($path, @ids) {
  my @out;
  for my $seg (split m{/}, $path) { push @out, $seg eq ':id' ? shift @ids : $seg }
  return join '/', @out;
}

# --- dispatch -----------------------------------------------------------------------

sub handle ($self, $path, $ctx) {
  my $node   = $NODE{$path};
  my $method = uc $ctx->{method};
  die CmsSim::Error->new(405, 'invalidOperation') unless grep { $_ eq $method } @{$node->{methods}};
  $self->_check_parents($ctx, $path);
  my $role = $node->{role};
  return $self->_collection($path, $node, $ctx, $method) if $role eq 'collection';
  return $self->_object($path, $node, $ctx, $method)     if $role eq 'object';
  return $self->_singleton($path, $node, $ctx, $method)  if $role eq 'singleton';
  return $self->_static($path, $node, $ctx)              if $role eq 'static';
  return $self->_action($path, $node, $ctx, $method);
}

sub _children ($self, $kind, $ctx) {
  my @ids = @{$ctx->{ids}};
  my $parent = @ids ? $ids[-1] : undef;
  return grep { ($_->{_parent} // '') eq ($parent // '') } $self->{store}->generic($kind)->all;
}

sub _collection ($self, $path, $node, $ctx, $method) {
  my $kind = $node->{kind};
  my $k    = $KIND{$kind};
  if ($method eq 'POST') {
    my $obj = $self->_apply($k->{fields}, {}, $ctx, 1);
    $obj->{id} = guid();
    $obj->{_parent} = $ctx->{ids}[-1] if @{$ctx->{ids}};
    $self->{store}->generic($kind)->add($obj);
    my $loc = '/api/v1/' . _canonical($path, @{$ctx->{ids}}) . "/$obj->{id}";
    return {status => 200, headers => [Location => $loc], body => ''};
  }
  return $self->_list($kind, $node, $ctx, $self->_children($kind, $ctx)) if $method eq 'GET';
  die CmsSim::Error->new(405, 'invalidOperation');
}

sub _uint ($q, $name) {
  return undef unless $q->given($name);
  my $v = $q->get($name);
  param_error($name, 'invalidValue') unless $v =~ /\A[0-9]{1,9}\z/;
  return $v + 0;
}

sub _list ($self, $kind, $node, $ctx, @items) {
  my $k = $KIND{$kind};
  my $q = $ctx->{query};
  my %field = map { $_->[0] => $_->[1] } @{$k->{fields}};
  for my $name (@{$node->{query}}) {
    next unless $q->given($name);
    my $want = $q->get($name);
    if ($name eq 'filter') {
      my $needle = fold($want);
      my @text = grep { !$field{$_} || $field{$_}{type} =~ /^(?:str|enum)$/ } 'name', @{$k->{list}};
      @items = grep {
        my $o = $_;
        grep { defined $o->{$_} && index(fold($o->{$_}), $needle) >= 0 } @text
      } @items;
    }
    elsif ($name eq 'usageFilter') {
      param_error($name, 'invalidValue') unless $want =~ /\A(?:referenced|unreferenced)\z/;
      @items = grep { $self->{store}->is_referenced($_->{id}) xor $want eq 'unreferenced' } @items;
    }
    elsif ($name =~ /\A(.+)Filter\z/ && $field{$1}) {
      my ($f, $spec) = ($1, $field{$1});
      @items = $spec->{type} eq 'id' || $spec->{ref}
        ? grep { ($_->{$f} // '') eq $want } @items
        : grep { index(fold($_->{$f} // ''), fold($want)) >= 0 } @items;
    }
  }
  my $offset = _uint($q, 'offset') // 0;
  my $limit  = _uint($q, 'limit');
  my $max    = $self->{config}{page_size};
  my $count  = defined $limit && $limit < $max ? $limit : $max;
  my $total  = @items;
  my $end    = $offset + $count > $total ? $total : $offset + $count;
  my @page   = $offset < $end ? @items[$offset .. $end - 1] : ();
  return _xml(200, list_doc($k->{plural}, $total, map { _item($kind, $_) } @page));
}

sub _object ($self, $path, $node, $ctx, $method) {
  my $kind  = $node->{kind};
  my $id    = $ctx->{ids}[-1];
  my $table = $self->{store}->generic($kind);
  my $obj   = $table->get($id);
  $obj = undef if $obj && ($obj->{_parent} // '') ne (@{$ctx->{ids}} > 1 ? $ctx->{ids}[-2] : '');
  not_found(missing_reason($kind)) unless $obj;
  return _xml(200, document(_detail($kind, $obj))) if $method eq 'GET';
  if ($method eq 'PUT') {
    my $new = $self->_apply($KIND{$kind}{fields}, $obj, $ctx, 0);
    %$obj = %$new;
    return _ok;
  }
  $table->remove($id);
  return _ok;
}

# One object per system; its XML root is the example's.
sub _singleton ($self, $path, $node, $ctx, $method) {
  my $state = $self->{store}->singleton($path);
  my ($root) = ($node->{example} // '') =~ /\n<([A-Za-z]+)/;
  $root //= $path =~ s{.*/}{}r;
  if ($method eq 'GET') {
    return _xml(200, document("<$root>" . join('', map { el($_->[0], $state->{$_->[0]}) } @{$node->{fields}}) . "</$root>"));
  }
  my $new = $self->_apply($node->{fields}, $state, $ctx, 0);
  %$state = %$new;
  return _ok;
}

# Read-only nodes answer the blueprint's example.
sub _static ($self, $path, $node, $ctx) {
  if (lc $path eq lc 'coSpaces/:id/meetingEntryDetail') {
    my $space = $self->{store}->get_cospace($ctx->{ids}[0]);
    return _xml(200, document('<meetingEntryDetail>' . el(uri => $space->{uri}) . el(callId => $space->{callId})
        . '</meetingEntryDetail>'));
  }
  return _xml(200, $node->{example}) if defined $node->{example};
  my $root = $path =~ s{.*/}{}r;
  return _xml(200, document("<$root></$root>"));
}

sub _action ($self, $path, $node, $ctx, $method) {
  my $fields = $node->{fields} // [];
  # Query nodes take their parameters in the body or the query string.
  my $in = $ctx->{form};
  $in = $ctx->{query} if $path =~ /Query\z/ && !($ctx->{form}->names);
  local $ctx->{form} = $in;
  $self->_apply($fields, {}, $ctx, $method eq 'POST');
  return $self->_access_query($ctx) if $path eq 'accessQuery';
  return $self->_uri_usage_query($ctx) if $path eq 'uriUsageQuery';
  if ($path eq 'coSpaces/:id/messages' && $method eq 'POST') {
    param_error('message', 'missing') unless $in->given('message');
    return {status => 200, headers => [Location => "/api/v1/coSpaces/$ctx->{ids}[0]/messages/" . guid()], body => ''};
  }
  return _ok;
}

# accessQuery: how a coSpace (or one of its access methods) is reached, by
# uri or callId. The full URI uses the highest-priority inbound dial plan
# rule's domain that resolves to coSpaces (APIARY: "sales.meeting" is
# reached via "sales.meeting@example.com"); the web address is the web
# bridge's, when one is configured.
sub _access_query ($self, $ctx) {
  my $q = $ctx->{form};
  my ($uri, $call_id) = map { $q->get($_) } qw(uri callId);
  param_error('uri', 'missing') unless length($uri // '') || length($call_id // '');
  my $store  = $self->{store};
  my $tenant = $q->get('tenant') // '';
  my ($hit) = grep {
    ($tenant eq '' || ($_->{tenant} // '') eq $tenant)
      && ((length($uri // '') && lc($uri) eq lc($_->{uri} // ''))
      || (length($call_id // '') && $call_id eq ($_->{callId} // '')))
  } $store->table('coSpaces')->all, $store->generic('coSpaces/:id/accessMethods')->all;
  return _xml(200, document('<accessQuery></accessQuery>')) unless $hit;
  my ($rule) = sort { ($b->{priority} // 0) <=> ($a->{priority} // 0) }
    grep { ($_->{resolveTocoSpaces} // 'true') eq 'true' } $store->generic('inboundDialPlanRules')->all;
  my $full = defined $hit->{uri} ? $hit->{uri} . ($rule ? "\@$rule->{domain}" : '') : undef;
  my ($web) = $store->generic('webBridges')->all;
  my $web_address = $web && defined $web->{url} && defined $hit->{callId} ? "$web->{url}/invited.sf?id=$hit->{callId}" : undef;
  return _xml(200, document('<accessQuery>' . el(uri => $full) . el(webAddress => $web_address) . '</accessQuery>'));
}

# uriUsageQuery: which coSpace, user or IVR uses the uri within the tenant
# ("If omitted only entities without a tenant will be returned"). The
# example shows <userId>; a coSpace is named the same way (<coSpaceId>), an
# inference.
sub _uri_usage_query ($self, $ctx) {
  my $q = $ctx->{form};
  param_error('uri', 'missing') unless $q->given('uri');
  my $uri    = lc $q->get('uri');
  my $tenant = $q->get('tenant') // '';
  my $store  = $self->{store};
  my $in     = sub ($o, @f) { ($o->{tenant} // '') eq $tenant && grep { lc($o->{$_} // '') eq $uri } @f };
  my @out;
  push @out, map { el(coSpaceId => $_->{id}) } grep { $in->($_, qw(uri secondaryUri)) } $store->table('coSpaces')->all;
  push @out, map { el(ivrId => $_->{id}) } grep { $in->($_, 'uri') } $store->generic('ivrs')->all;
  return _xml(200, document('<uriUsageQuery>' . join('', @out) . '</uriUsageQuery>'));
}

1;
