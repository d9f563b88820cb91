package CmsSim::Schema;

# Writable fields of each CMS object type, their value types, and the one
# routine that applies form parameters to an object with CMS's PUT/POST
# semantics (APIARY "PUT Methods"):
#   * an omitted parameter leaves the field unchanged;
#   * an empty value ("tenant=") unsets the field;
#   * a parameter the object does not know is accepted and ignored (TMS
#     still sends messageBoardEnabled, removed in 3.0; cms-api-notes 1.3).
#
# Field lists come from APIARY's data structures (cms-api.apib "Data
# Structures" and the per-node tables). The order of each list is the order
# in which set fields are rendered in detail responses.

use v5.36;
use Exporter 'import';
use CmsSim::Error qw(fail param_error);

our @EXPORT_OK = qw(apply_params expand_mapping validate_mapping);

my @LAYOUTS = qw(allEqual speakerOnly telepresence stacked allEqualQuarters allEqualNinths
  allEqualSixteenths allEqualTwentyFifths onePlusFive onePlusSeven onePlusNine automatic onePlusN);

# References to the blueprint's other kinds (CmsSim::Generic keeps them):
# an id that names no such object fails with the matching xxxDoesNotExist.
# dialInSecurityProfiles are named by the blueprint but have no node, so no
# reference to one can resolve.
sub _none ($error) {
  my %table = (
    tenantDoesNotExist                => 'tenants',
    callBrandingProfileDoesNotExist   => 'callBrandingProfiles',
    layoutTemplateDoesNotExist        => 'layoutTemplates',
    dialInSecurityProfileDoesNotExist => 'dialInSecurityProfiles',
  );
  return (type => 'ref', table => $table{$error}, error => $error);
}

our @COSPACE = (
  [name                           => type => 'str'],
  [uri                            => type => 'uri'],
  [secondaryUri                   => type => 'uri'],
  [callId                         => type => 'digits'],
  [cdrTag                         => type => 'str', max => 100],
  [passcode                       => type => 'str'],
  [defaultLayout                  => type => 'enum', values => \@LAYOUTS],
  [tenant                         => _none('tenantDoesNotExist')],
  [callProfile                    => type => 'ref', table => 'callProfiles', error => 'callProfileDoesNotExist'],
  [callLegProfile                 => type => 'ref', table => 'callLegProfiles', error => 'callLegProfileDoesNotExist'],
  [callBrandingProfile            => _none('callBrandingProfileDoesNotExist')],
  [dialInSecurityProfile          => _none('dialInSecurityProfileDoesNotExist')],
  [nonMemberAccess                => type => 'bool'],
  [ownerJid                       => type => 'str'],
  [streamUrl                      => type => 'str'],
  [ownerAdGuid                    => type => 'str'],
  [meetingScheduler               => type => 'str'],
  [panePlacementHighestImportance => type => 'int'],
  [panePlacementSelfPaneMode      => type => 'enum', values => [qw(skip self blank)]],
  [secret                         => type => 'str'],
);

# messageBoardEnabled is deliberately absent: removed in 3.0 and the
# simulator reports softwareVersion 3.2.1, so it is an unknown parameter.
our @CALL_PROFILE = (
  [participantLimit             => type => 'int'],
  [locked                       => type => 'bool'],
  [recordingMode                => type => 'enum', values => [qw(disabled manual automatic)]],
  [streamingMode                => type => 'enum', values => [qw(disabled manual automatic)]],
  [passcodeMode                 => type => 'enum', values => [qw(required timeout)]],
  [passcodeTimeout              => type => 'int'],
  [gatewayAudioCallOptimization => type => 'bool'],
  [lyncConferenceMode           => type => 'enum', values => [qw(dualHomeCluster dualHomeCallBridge gateway)]],
  [lockMode                     => type => 'enum', values => [qw(all needsActivation)]],
  [sipRecorderUri               => type => 'str'],
  [sipStreamerUri               => type => 'str'],
);

# Call leg profile fields; the same list is accepted as per-leg overrides
# on POST /calls/<id>/callLegs and PUT /callLegs/<id>.
our @CALL_LEG_PROFILE = (
  [name                                    => type => 'str'],
  [needsActivation                         => type => 'bool'],
  [defaultLayout                           => type => 'enum', values => \@LAYOUTS],
  [participantLabels                       => type => 'bool'],
  [presentationDisplayMode                 => type => 'enum', values => [qw(dualStream singleStream)]],
  [presentationContributionAllowed         => type => 'bool'],
  [presentationViewingAllowed              => type => 'bool'],
  [joinToneParticipantThreshold            => type => 'int', max => 100],
  [leaveToneParticipantThreshold           => type => 'int'],
  [muteOthersAllowed                       => type => 'bool'],
  [videoMuteOthersAllowed                  => type => 'bool'],
  [muteSelfAllowed                         => type => 'bool'],
  [videoMuteSelfAllowed                    => type => 'bool'],
  [endCallAllowed                          => type => 'bool'],
  [disconnectOthersAllowed                 => type => 'bool'],
  [addParticipantAllowed                   => type => 'bool'],
  [changeLayoutAllowed                     => type => 'bool'],
  [callLockAllowed                         => type => 'bool'],
  [allowAllMuteSelfAllowed                 => type => 'bool'],
  [allowAllPresentationContributionAllowed => type => 'bool'],
  [changeJoinAudioMuteOverrideAllowed      => type => 'bool'],
  [setImportanceAllowed                    => type => 'bool'],
  [recordingControlAllowed                 => type => 'bool'],
  [streamingControlAllowed                 => type => 'bool'],
  [videoMode                               => type => 'enum', values => [qw(auto disabled)]],
  [rxAudioMute                             => type => 'bool'],
  [txAudioMute                             => type => 'bool'],
  [rxVideoMute                             => type => 'bool'],
  [txVideoMute                             => type => 'bool'],
  [sipMediaEncryption                      => type => 'enum', values => [qw(optional required prohibited)]],
  [audioPacketSizeMs                       => type => 'int'],
  [deactivationMode                        => type => 'enum', values => [qw(deactivate disconnect remainActivated)]],
  [deactivationModeTime                    => type => 'int'],
  [telepresenceCallsAllowed                => type => 'bool'],
  [sipPresentationChannelEnabled           => type => 'bool'],
  [bfcpMode                                => type => 'enum', values => [qw(serverOnly serverAndClient)]],
  [maxCallDurationTime                     => type => 'int'],
  [qualityMain                             => type => 'enum', values => [qw(unrestricted max1080p30 max720p30 max480p30)]],
  [qualityPresentation                     => type => 'enum', values => [qw(unrestricted max1080p30 max720p5)]],
  [participantCounter                      => type => 'enum', values => [qw(never auto always)]],
  [controlRemoteCameraAllowed              => type => 'bool'],
  [layoutTemplate                          => _none('layoutTemplateDoesNotExist')],
  [audioGainMode                           => type => 'str'],
);

# Extra per-leg parameters (APIARY "callLeg" data structure).
our @CALL_LEG_EXTRA = (
  [callLegProfile => type => 'ref', table => 'callLegProfiles', error => 'callLegProfileDoesNotExist'],
  [ownerId        => type => 'str'],
  [chosenLayout   => type => 'enum', values => \@LAYOUTS],
  [dtmfSequence   => type => 'str'],
);

# startIndex/endIndex ranges are checked by the store (they depend on each
# other); the mappings use the $index$ syntax checked below.
our @BULK_SET = (
  [startIndex           => type => 'int'],
  [endIndex             => type => 'int'],
  [coSpaceUriMapping    => type => 'mapping', uri => 1],
  [coSpaceNameMapping   => type => 'mapping'],
  [coSpaceCallIdMapping => type => 'mapping'],
  [tenant               => _none('tenantDoesNotExist')],
  [callProfile          => type => 'ref', table => 'callProfiles', error => 'callProfileDoesNotExist'],
  # Not in APIARY 2.9 for parameter sets, but TMS sends it and CMS 2.0
  # answered 200 (cms-api-notes 1.3, Q7): accepted and applied.
  [callLegProfile      => type => 'ref', table => 'callLegProfiles', error => 'callLegProfileDoesNotExist'],
  [callBrandingProfile => _none('callBrandingProfileDoesNotExist')],
  [nonMemberAccess     => type => 'bool'],
);

# PUT /calls/<id> (APIARY "call" data structure; coSpace/name are POST-only).
our @CALL = (
  [locked                           => type => 'bool'],
  [recording                        => type => 'bool'],
  [streaming                        => type => 'bool'],
  [allowAllMuteSelf                 => type => 'bool'],
  [allowAllPresentationContribution => type => 'bool'],
  [joinAudioMuteOverride            => type => 'bool'],
  [messageText                      => type => 'str'],
  [messagePosition                  => type => 'enum', values => [qw(top middle bottom)]],
  [messageDuration                  => type => 'str'],
  [activeWhenEmpty                  => type => 'bool'],
  [panePlacementHighestImportance   => type => 'int'],
  [panePlacementSelfPaneMode        => type => 'enum', values => [qw(skip self blank)]],
);

# PUT /participants/<id> (APIARY: importance, dtmfSequence,
# nameLabelOverride, deactivated).
our @PARTICIPANT = (
  [importance        => type => 'int', max => 2147483647],
  [nameLabelOverride => type => 'str', max => 50],
  [dtmfSequence      => type => 'str'],
  [deactivated       => type => 'bool'],
);

# The mapping syntax of cospaceBulkParameterSets (APIARY):
#   mapping = [component] ["$index$"] [component]
#   escaped-character = "\\" / "\$"   ; producing '\' and '$'
# so "$" may only appear escaped or as the single "$index$" token, and a
# backslash must escape "\" or "$". URI mappings may not contain "@".
sub validate_mapping ($value, $is_uri = 0) {
  my $tokens = 0;
  my $rest   = $value;
  while (length $rest) {
    if    ($rest =~ s/^\\[\\\$]//)  { }
    elsif ($rest =~ s/^\$index\$//) { return 0 if ++$tokens > 1 }
    elsif ($rest =~ s/^[\\\$]//)    { return 0 }
    elsif ($rest =~ s/^\@//)        { return 0 if $is_uri }
    else                            { $rest =~ s/^[^\\\$\@]+// }
  }
  return 1;
}

sub expand_mapping ($mapping, $index) {
  my $out  = '';
  my $rest = $mapping;
  while (length $rest) {
    if    ($rest =~ s/^\\([\\\$])//) { $out .= $1 }
    elsif ($rest =~ s/^\$index\$//)  { $out .= $index }
    elsif ($rest =~ s/^([^\\\$]+)//) { $out .= $1 }
    else                             { $out .= substr $rest, 0, 1, '' }
  }
  return $out;
}

sub _check ($field, $value, %spec) {
  my $type = $spec{type};
  if ($type eq 'bool') {
    param_error($field, 'invalidValue') unless $value eq 'true' || $value eq 'false';
  }
  elsif ($type eq 'int') {
    param_error($field, 'invalidValue') unless $value =~ /\A[0-9]{1,10}\z/;
    param_error($field, 'outOfRange') if defined $spec{max} && $value > $spec{max};
  }
  elsif ($type eq 'digits') {
    param_error($field, 'invalidValue') unless $value =~ /\A[0-9]+\z/;
  }
  elsif ($type eq 'enum') {
    param_error($field, 'invalidValue') unless grep { $_ eq $value } @{$spec{values}};
  }
  elsif ($type eq 'str') {
    param_error($field, 'tooLong') if defined $spec{max} && length $value > $spec{max};
  }
  elsif ($type eq 'mapping') {
    param_error($field, 'invalidValue') unless validate_mapping($value, $spec{uri});
  }
  return $type eq 'uri' ? lc $value : $value;
}

# Apply the parameters named in $spec to the hash $target.
# $exists->($table, $id) answers whether a referenced object exists.
# Dies with a CmsSim::Error on the first invalid value; callers apply to a
# copy and commit only on success, so a failed request changes nothing.
sub apply_params ($spec, $target, $params, $exists) {
  for my $entry (@$spec) {
    my ($field, %spec) = @$entry;
    next unless $params->has($field);
    my $value = $params->get($field);
    if ($value eq '') { delete $target->{$field}; next }
    if ($spec{type} eq 'ref') {
      fail($spec{error}) unless $spec{table} && $exists->($spec{table}, $value);
    }
    else { $value = _check($field, $value, %spec) }
    $target->{$field} = $value;
  }
  return $target;
}

1;
