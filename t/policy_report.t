#!/usr/bin/env perl

# Policy in report-only mode: a rule with mode=report, and a location with
# "cms_policy_mode report", never refuse a call; every call they would
# have refused is counted in cms_policy_would_deny_total{rule} and its
# audit record says what would have been refused and why.  Switching to
# enforce is a reload, nothing else.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use CmsTest;

my $t = CmsTest->new;

$t->start_sim;

$t->write_file('htpasswd', "tms:{PLAIN}tms-pw\nmon:{PLAIN}mon-pw\n");
chmod 0711, $t->dir;
chmod 0644, $t->dir . '/htpasswd';

my $conf = <<'EOF';
%%GLOBALS%%
events {}
http {
    access_log %%TESTDIR%%/access.log;
    cms_audit_log %%TESTDIR%%/audit.log;
    cms_policy_zone meetings 32k;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
    }

    auth_basic "cms";
    auth_basic_user_file %%TESTDIR%%/htpasswd;
    cms_credentials inject;
    cms_role scheduler tms;
    cms_role monitor mon;

    server {
        listen 127.0.0.1:%%PORT_proxy%%;

        # rule by rule
        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;

            cms_policy_rule no-delete deny op=coSpace.delete %%RULE_MODE%%;
            cms_policy_rule passcode require op=coSpace.modify
                            if=nonMemberAccess:^true$ param=passcode
                            min_length=6 error=passcodeTooShort %%RULE_MODE%%;
            cms_policy_rule limit cap op=callProfile.create
                            param=participantLimit max=10 %%RULE_MODE%%;
            cms_policy_rule one-meeting meetings zone=meetings max=1
                            %%RULE_MODE%%;
            # enforced whatever the others do
            cms_policy_rule no-bulk deny op=callProfile.delete;
            proxy_pass http://cms;
        }

        location = /metrics {
            auth_basic off;
            cms_metrics;
        }
    }

    # a whole location: roles and rules
    server {
        listen 127.0.0.1:%%PORT_loc%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins policy audit;
            cms_policy_mode %%LOC_MODE%%;
            cms_policy_role monitor method=GET;
            cms_policy_role scheduler *;
            cms_policy_rule keep deny op=coSpace.delete;
            proxy_pass http://cms;
        }
    }
}
EOF

sub configure {
    my ($rule_mode, $loc_mode) = @_;
    (my $c = $conf) =~ s/%%RULE_MODE%%/$rule_mode/g;
    $c =~ s/%%LOC_MODE%%/$loc_mode/g;
    $t->write_conf($c);
}

configure('mode=report', 'report');
$t->run_nginx(ports => [$t->port('proxy'), $t->port('loc')]);

my $P = $t->port('proxy');
my $L = $t->port('loc');
my %tms = (user => 'tms', password => 'tms-pw');
my %mon = (user => 'mon', password => 'mon-pw');

sub would {
    my $r = $t->http('GET', $P, '/metrics');
    my %m = map { /^cms_policy_would_deny_total\{rule="([^"]+)"\} (\d+)$/
                  ? ($1 => $2) : () } split /\n/, $r->{content};
    return \%m;
}

sub denials {
    my $r = $t->http('GET', $P, '/metrics');
    my %m = map { /^cms_denials_total\{plugin="policy",rule="([^"]+)"\} (\d+)$/
                  ? ($1 => $2) : () } split /\n/, $r->{content};
    return \%m;
}

sub space {
    my $r = $t->http('POST', $P, '/api/v1/coSpaces', %tms, body => "name=$_[0]");
    die "create: $r->{status}" unless $r->{status} == 200;
    return (split m{/}, $r->{headers}{location})[-1];
}

my @spaces = map { space("s$_") } 1 .. 3;

# --- every refusing action, reported: the calls all go through

my @calls = (
    [ 'no-delete', 'DELETE', "/api/v1/coSpaces/$spaces[0]", undef ],
    [ 'passcode', 'PUT', "/api/v1/coSpaces/$spaces[1]",
      'nonMemberAccess=true&passcode=12' ],
    [ 'limit', 'POST', '/api/v1/callProfiles', 'participantLimit=500' ],
    # the first meeting takes the only place, the second would not fit
    [ undef, 'PUT', "/api/v1/coSpaces/$spaces[2]",
      'nonMemberAccess=true&passcode=123456' ],
    [ 'one-meeting', 'PUT', "/api/v1/coSpaces/$spaces[1]",
      'nonMemberAccess=true&passcode=123456' ],
);

my %expect;
for my $c (@calls) {
    my ($rule, $method, $path, $body) = @$c;
    my $r = $t->http($method, $P, $path, %tms,
                     (defined $body ? (body => $body) : ()));
    ok($r->{status} >= 200 && $r->{status} < 300,
       "$method $path is not refused (" . ($rule // 'nothing to report')
       . "): $r->{status}");
    $expect{$rule}++ if $rule;
}

# the same again: counted every time
for my $c (@calls[0 .. 2]) {
    my ($rule, $method, $path, $body) = @$c;
    $path = "/api/v1/coSpaces/$spaces[2]" if $rule eq 'no-delete';
    my $r = $t->http($method, $P, $path, %tms,
                     (defined $body ? (body => $body) : ()));
    ok($r->{status} < 300, "$rule: again not refused");
    $expect{$rule}++;
}

my $r = $t->http('DELETE', $P, "/api/v1/callProfiles/$spaces[0]", %tms);
is($r->{status}, 403, 'an enforced rule next to them still refuses');

# counted in the log phase, after the answer: polled until it settles
sub settled {
    my ($get, $cond) = @_;
    my $deadline = time + 20;
    my $v;
    while (time < $deadline) {
        $v = $get->();
        return $v if $cond->($v);
        sleep 0.1;
    }
    return $v;
}

my $n = 0;
$n += $_ for values %expect;
is_deeply(settled(\&would, sub { my $s = 0; $s += $_ for values %{ $_[0] };
                                 $s >= $n }), \%expect,
          'every report-only refusal counted, by rule, and nothing else');
is_deeply(settled(\&denials, sub { $_[0]{'no-bulk'} }), { 'no-bulk' => 1 },
          'the only denial is the enforced one');

# the records are written in the log phase, after the answers: waited for
sub audit_until {
    my ($cond) = @_;
    my $deadline = time + 20;
    my @audit;
    while (time < $deadline) {
        @audit = map { $t->{json}->decode($_) }
                 split /\n/, $t->read_file('audit.log');
        last if $cond->(@audit);
        sleep 0.1;
    }
    return @audit;
}

my @audit = audit_until(sub {
    grep({ ($_->{would_deny} // '') =~ /passcode/ } @_)
    && grep({ ($_->{operation} // '') eq 'callProfile.create' } @_)
});
my ($pc) = grep { ($_->{would_deny} // '') =~ /passcode/ } @audit;
like($pc->{would_deny} // '',
     qr/^400 passcodeTooShort policy rule passcode: passcode is shorter than 6/,
     'the audit record: the answer it would have had, and why');
is($pc->{status}, 200, 'while the bridge answered');
my ($cap) = grep { ($_->{operation} // '') eq 'callProfile.create' } @audit;
like($cap->{would_deny} // '', qr/^400 parameterError policy rule limit:/,
     'the cap would have refused');
is($cap->{params}{participantLimit}, '500', 'and changed nothing');

# --- a whole location in report mode: the permission step too

$r = $t->http('POST', $L, '/api/v1/coSpaces', %mon, body => 'name=m');
is($r->{status}, 200, 'a monitor may not create, but report mode lets it');
$r = $t->http('DELETE', $L, "/api/v1/coSpaces/$spaces[1]", %tms);
is($r->{status}, 200, 'nor is the deny rule enforced');

my $w = settled(\&would, sub { $_[0]{permission} && $_[0]{keep} });
is($w->{permission}, 1, 'the permission refusal is counted');
is($w->{keep}, 1, 'the deny rule too');

@audit = audit_until(sub {
    grep { ($_->{would_deny} // '') =~ /role "monitor" may not/ } @_
});
my ($perm) = grep { ($_->{would_deny} // '') =~ /role "monitor" may not/ }
             @audit;
like($perm->{would_deny} // '',
     qr/^403 invalidOperation policy: role "monitor" may not coSpace.create/,
     'the audit record of the monitor\'s create');

# --- enforce: a reload, nothing else

configure('', 'enforce');
$t->reload_nginx;

my $deadline = time + 20;
while (time < $deadline) {
    last if $t->http('DELETE', $P, "/api/v1/coSpaces/$spaces[0]", %tms)
            ->{status} == 403;
    sleep 0.1;
}

$r = $t->http('DELETE', $P, "/api/v1/coSpaces/$spaces[0]", %tms);
is($r->{status}, 403, 'after the reload the rule refuses');
$r = $t->http('POST', $P, '/api/v1/callProfiles', %tms,
              body => 'participantLimit=500');
is($r->{status}, 400, 'the cap too');
$r = $t->http('POST', $L, '/api/v1/coSpaces', %mon, body => 'name=m');
is($r->{status}, 403, 'and the location enforces its roles');
ok(settled(\&denials, sub { $_[0]{'no-delete'} })->{'no-delete'} >= 1,
   'counted as denials now');

# --- what the configuration refuses

$t->write_conf(<<'EOF', 'bad.conf');
%%GLOBALS%%
events {}
http {
    cms_policy_rule r1 deny op=coSpace.delete mode=clamp;
}
EOF
my ($ok, $out) = $t->nginx_t('bad.conf');
ok(!$ok, 'mode=clamp on a deny rule is refused');
like($out, qr/rule "r1": invalid "mode=clamp" \(deny or report\)/, 'and why');

$t->write_conf(<<'EOF', 'bad.conf');
%%GLOBALS%%
events {}
http {
    cms_policy_mode dry;
}
EOF
($ok, $out) = $t->nginx_t('bad.conf');
ok(!$ok, 'cms_policy_mode takes enforce or report');
like($out, qr/invalid value "dry"/, 'says nginx');

$t->done;
