package CmsSeed;

# The two seed sessions as code: the TMS session of seed 000 (add device,
# profiles, bulk parameter set + sync, meeting start, extend, end) and
# the CMM move of seed 004.  The request bodies are byte for byte those
# of the traces (their sizes match the "content data size" lines).
#
# Each function takes a client: sub ($method, $path, $body) returning an
# HTTP::Tiny-style response, and returns the transcript: one entry per
# request with what a client sees (status, Location, Content-Type, body).

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(tms_session cmm_move normalize id_of);

sub id_of {
    my ($location) = @_;
    return undef unless defined $location;
    $location =~ m{/([^/\s]+)\s*$};
    return $1;
}

sub _step {
    my ($transcript, $client, $method, $path, $body) = @_;

    my $res = $client->($method, $path, $body);

    push @$transcript, {
        request  => "$method $path" . (defined $body ? " $body" : ''),
        status   => $res->{status},
        location => $res->{headers}{location},
        type     => $res->{headers}{'content-type'},
        auth     => $res->{headers}{'www-authenticate'},
        content  => $res->{content},
    };

    return $res;
}

sub tms_session {
    my ($client, %opt) = @_;

    my @t;
    my $step = sub { _step(\@t, $client, @_) };

    # 1. add device: status, cluster discovery, profiles

    $step->(GET => '/api/v1/system/status');
    my $list = $step->(GET => '/api/v1/callBridges');
    for my $id ($list->{content} =~ /<callBridge id="([^"]+)"/g) {
        $step->(GET => "/api/v1/callBridges/$id");
    }

    my $cp = id_of($step->(POST => '/api/v1/callProfiles',
        'participantLimit=1000&messageBoardEnabled=false')
        ->{headers}{location});

    my $clp = id_of($step->(POST => '/api/v1/callLegProfiles',
        'defaultLayout=telepresence&changeLayoutAllowed=true'
        . '&presentationContributionAllowed=true'
        . '&presentationViewingAllowed=true&muteSelfAllowed=true'
        . '&videoMuteSelfAllowed=true')->{headers}{location});

    # 2. the pool of scheduled-meeting spaces

    my $set = id_of($step->(POST => '/api/v1/cospaceBulkParameterSets',
        'startIndex=1&endIndex=5&coSpaceUriMapping='
        . '&coSpaceNameMapping=TMS_Scheduled_Meeting_$index$'
        . "&coSpaceCallIdMapping=&callProfile=$cp"
        . "&callLegProfile=$clp&nonMemberAccess=false")
        ->{headers}{location});

    my $sync = id_of($step->(POST => '/api/v1/cospaceBulkSyncs',
        "cospaceBulkParameterSet=$set")->{headers}{location});

    $step->(GET => "/api/v1/cospaceBulkSyncs/$sync");
    $step->(GET => '/api/v1/system/status');

    # 3. meeting start: TMS looks, picks the lowest free slot, opens it

    $step->(GET => '/api/v1/system/status');
    $step->(GET => '/api/v1/participants');

    my $spaces = $step->(GET => '/api/v1/coSpaces');
    my %slot = reverse($spaces->{content}
        =~ /<coSpace id="([^"]+)"><name>(TMS_Scheduled_Meeting_\d+)</g);
    my $space = $slot{TMS_Scheduled_Meeting_1};

    my $open = '&nonMemberAccess=true&passcode='
        . '&name=Tim Kratzke Acano TMSXE Test Meeting'
        . '&secret=86db1bdd-5cf7-4ea8-b88d-479195f4701a';

    $step->(PUT => "/api/v1/cospaces/$space", $open);

    my $call = id_of($step->(POST => '/api/v1/calls', "coSpace=$space")
        ->{headers}{location});

    $step->(GET => '/api/v1/system/status');
    $step->(GET => '/api/v1/coSpaces');
    $step->(GET => '/api/v1/calls');
    $step->(GET => '/api/v1/calllegs');
    $step->(POST => "/api/v1/calls/$call/calllegs",
        'remoteParty=desk.ex90@tkratzke.local');

    $opt{between}->() if $opt{between};

    # 4. extend: the same PUT again

    $step->(PUT => "/api/v1/cospaces/$space", $open);

    # 5. end: placeholder name back, space closed, call deleted

    $step->(GET => '/api/v1/system/status');
    $step->(GET => '/api/v1/coSpaces');
    $step->(GET => '/api/v1/calls');
    $step->(GET => '/api/v1/coSpaces');
    $step->(PUT => "/api/v1/cospaces/$space",
        '&nonMemberAccess=false&passcode=&name=TMS_Scheduled_Meeting_1'
        . '&regenerateSecret=true');
    $step->(DELETE => "/api/v1/calls/$call");

    return \@t;
}

# Seed 004: a participant of one call is moved into another call.  The
# calls are created by the caller (which knows which bridge hosts them).
sub cmm_move {
    my ($client, $target_call, $participant) = @_;

    my @t;
    my $step = sub { _step(\@t, $client, @_) };

    $step->(GET => "/api/v1/participants/$participant");
    my $res = $step->(POST => "/api/v1/calls/$target_call/participants",
        "movedParticipant=$participant&needsActivation=false");
    my $new = id_of($res->{headers}{location});
    $step->(GET => "/api/v1/participants/$new") if $new;
    $step->(GET => "/api/v1/participants/$participant");

    return \@t;
}

# Makes two transcripts comparable: every GUID becomes G<n> in order of
# first appearance, clocks and counters that move by themselves are
# blanked.
sub normalize {
    my ($transcript) = @_;

    my %seen;
    my $n = 0;
    my $guid = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

    my @out;
    for my $e (@$transcript) {
        my %c = %$e;
        for my $k (sort keys %c) {
            next unless defined $c{$k};
            $c{$k} =~ s/($guid)/$seen{lc $1} \/\/= 'G' . ++$n/ge;
            $c{$k} =~ s{<(uptimeSeconds|cdrTime|durationSeconds|secret)>[^<]*<}{<$1>*<}g;
        }
        push @out, \%c;
    }

    return \@out;
}

1;
