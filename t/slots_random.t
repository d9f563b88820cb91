#!/usr/bin/env perl

# Randomized: four clients drive thousands of book / extend / end
# operations (with calls created and deleted) through two nginx instances
# (the first with two workers) that share the slot table in Redis, on a
# pool of 8 slots, choosing
# slots at random so that they collide.  Checked:
#
#   - no slot is ever held by two meetings: a client's extend of its own
#     meeting is never refused, and no check-out succeeds while another
#     client surely held the slot (the client-side interval check);
#   - at the end, each proxy's slot table equals the simulator's state
#     (/_sim/state): free slots carry the placeholder name, held ones the
#     meeting's name.
#
# The seed is printed; TEST_SEED=<n> replays a run's choices.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use CmsTest;
use CmsSeed qw(id_of);

my $t = CmsTest->new;
my $json = JSON::PP->new->utf8->canonical;


my $SEED = $ENV{TEST_SEED} // int(rand(1 << 30));
my $CLIENTS = 4;
my $OPS = $ENV{TEST_OPS} // 600;       # per client: 2400 in all
my $SLOTS = 8;

diag("seed $SEED, $CLIENTS clients x $OPS operations, $SLOTS slots");

$t->start_sim;
my $redis = $t->start_redis;

for my $n (qw(a b)) {
    my $conf = $t->expand(<<"EOF");
%%GLOBALS%%
events {}
http {
    access_log off;

    cms_redis 127.0.0.1:$redis prefix=cms-rand: command_timeout=2s;
    cms_slot_reconcile_at_start off;
    cms_slot_stuck_after 0;

    upstream cms {
        cms_bridge core1 127.0.0.1:%%PORT_core1%% user=admin password=secret1;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:%%PORT_proxy_$n%%;

        location /api/v1/ {
            cms_api on;
            cms_plugins slots;
            cms_credentials inject;
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location = /slots {
            cms_slots_status;
        }
    }
}
EOF
    $conf =~ s{pid \S+;}{pid ${\ $t->dir}/nginx-$n.pid;};
    $conf =~ s{error_log (\S+) debug;}{error_log $1 notice;};

    # two workers in A: the zone's mutex and the shared Redis both matter
    $conf =~ s{worker_processes 1;}{worker_processes 2;} if $n eq 'a';
    $t->write_file("nginx-$n.conf", $conf);
    $t->run_nginx(conf => "nginx-$n.conf", key => "nginx_$n",
                  pidfile => $t->dir . "/nginx-$n.pid",
                  ports => [$t->port("proxy_$n")]);
}

my %port = (a => $t->port('proxy_a'), b => $t->port('proxy_b'));

sub api {
    my ($via, $method, $path, $body) = @_;
    return $t->http($method, $port{$via}, $path, body => $body,
                    user => 'tms', password => 'x');
}

sub pool {
    my ($via) = @_;
    my $s = $json->decode($t->http('GET', $port{$via}, '/slots')->{content});
    return (grep { $_->{active} } @{ $s->{pools} })[0];
}

sub wait_for {
    my ($what, $cond) = @_;
    for (1 .. 200) {
        return 1 if $cond->();
        sleep 0.05;
    }
    fail("timed out waiting for $what");
    return 0;
}

# --- the pool, made through A

$t->sim('PUT', '/_sim/config', { page_size => 20 });

my $set = id_of(api('a', POST => '/api/v1/cospaceBulkParameterSets',
    "startIndex=1&endIndex=$SLOTS&coSpaceNameMapping=Slot_\$index\$"
    . '&nonMemberAccess=false')->{headers}{location});
my $sync = id_of(api('a', POST => '/api/v1/cospaceBulkSyncs',
                     "cospaceBulkParameterSet=$set")->{headers}{location});
api('a', GET => "/api/v1/cospaceBulkSyncs/$sync");
api('a', GET => '/api/v1/coSpaces?filter=Slot_');

wait_for('both proxies know the 8 spaces', sub {
    my $pb = pool('b');
    $pb && 8 == grep { defined $_->{space} } @{ $pb->{slots} };
});

my %space = map { $_->{index} => $_->{space} } @{ pool('a')->{slots} };
is(scalar keys %space, $SLOTS, "$SLOTS slot spaces");

# --- the clients

sub client {
    my ($c) = @_;

    srand($SEED + $c);

    my (%mine, @log);       # slot => { name, secret, call, via }
    my $n = 0;

    for my $op (1 .. $OPS) {
        my $via = rand() < 0.5 ? 'a' : 'b';
        my $r = rand();

        if (!%mine || ($r < 0.45 && keys %mine < 3)) {
            # book a random slot: collisions are the point
            my $i = 1 + int(rand($SLOTS));
            next if $mine{$i};
            my $name = "Meeting $c-" . ++$n;
            my $secret = "s$c-$n";
            my $t0 = time;
            my $res = api($via, PUT => "/api/v1/cospaces/$space{$i}",
                "&nonMemberAccess=true&passcode=&name=$name&secret=$secret");
            my $t1 = time;
            if ($res->{status} == 200) {
                $mine{$i} = { name => $name, secret => $secret,
                              opened => $t1 };
                push @log, ['open', $i, $name, $t0, $t1];
                if (rand() < 0.5) {
                    my $call = id_of(api($via, POST => '/api/v1/calls',
                                         "coSpace=$space{$i}")
                                     ->{headers}{location});
                    $mine{$i}{call} = $call;
                }
            } elsif ($res->{status} != 400
                     || $res->{content} !~ /slotInUse/) {
                push @log, ["error", $i, "book: $res->{status} $res->{content}"];
            }

        } elsif ($r < 0.7) {
            # extend one of ours: must never be refused
            my ($i) = (sort keys %mine)[int(rand(keys %mine))];
            my $m = $mine{$i};
            my $res = api($via, PUT => "/api/v1/cospaces/$space{$i}",
                "&nonMemberAccess=true&passcode=&name=$m->{name}"
                . "&secret=$m->{secret}");
            push @log, ['error', $i, "extend $m->{name}: $res->{status}"]
                unless $res->{status} == 200;

        } else {
            # end one of ours, the TMS way
            my ($i) = (sort keys %mine)[int(rand(keys %mine))];
            my $m = delete $mine{$i};
            my $t0 = time;
            my $res = api($via, PUT => "/api/v1/cospaces/$space{$i}",
                '&nonMemberAccess=false&passcode='
                . "&name=Slot_$i&regenerateSecret=true");
            push @log, ['close', $i, $m->{name}, $t0, time];
            push @log, ['error', $i, "end $m->{name}: $res->{status}"]
                unless $res->{status} == 200;
            if ($m->{call}) {
                api($via, DELETE => "/api/v1/calls/$m->{call}");
            }
        }
    }

    # what this client still holds at the end
    push @log, map { ['held', $_, $mine{$_}{name}] } sort keys %mine;

    return \@log;
}

my @kids;
for my $c (1 .. $CLIENTS) {
    my $file = $t->dir . "/client-$c.json";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        # a child must never die into the harness' DESTROY (it would
        # stop the servers): errors are part of its log
        my $log = eval { client($c) } || [['error', 0, "died: $@"]];
        open my $fh, '>', $file or die;
        print $fh $json->encode($log);
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;

my @all;
for my $c (1 .. $CLIENTS) {
    my $log = $json->decode($t->read_file("client-$c.json"));
    push @all, map { [$c, @$_] } @$log;
}

my @errors = grep { $_->[1] eq 'error' } @all;
is(scalar @errors, 0, 'no extend or end of a client\'s own meeting refused')
    or diag(explain([@errors[0 .. ($#errors > 9 ? 9 : $#errors)]]));

my $opens = grep { $_->[1] eq 'open' } @all;
ok($opens > 100, "many check-outs succeeded ($opens)");

# no check-out succeeded while another client surely held the slot:
# held surely from the answer to its open to the sending of its close

my %held;    # slot => [[from, to, client], ...]
for my $c (1 .. $CLIENTS) {
    my %open;
    for my $e (grep { $_->[0] == $c } @all) {
        my (undef, $kind, $i, $name, $t0, $t1) = @$e;
        if ($kind eq 'open') {
            $open{$i} = $t1;
        } elsif ($kind eq 'close') {
            push @{ $held{$i} }, [delete $open{$i}, $t0, $c];
        }
    }
    push @{ $held{$_} }, [$open{$_}, 9e9, $c] for keys %open;
}

my $overlaps = 0;
for my $e (grep { $_->[1] eq 'open' } @all) {
    my ($c, undef, $i, $name, $t0, $t1) = @$e;
    $overlaps += grep { $_->[2] != $c && $t0 > $_->[0] && $t1 < $_->[1] }
                 @{ $held{$i} || [] };
}
is($overlaps, 0, 'no slot was ever checked out while another meeting held it');

# Redis was there all along: every decision was its, none the zone's
unlike($t->read_file('error.log'), qr/the zone decides|could not decide/,
       'every slot decision was made by Redis');

# --- the end: both proxies equal the simulator

my %truth;
for my $s (@{ $t->sim('GET', '/_sim/state')->{coSpaces} }) {
    next unless ($s->{createdBy} // '') eq $set;
    my ($i) = grep { $space{$_} eq $s->{id} } keys %space;
    $truth{$i} = $s->{name} eq "Slot_$i" ? 'free:' : "in_use:$s->{name}";
}

my $truth = join ',', map { $truth{$_} } 1 .. $SLOTS;
my %held_end = map { $_->[2] => "in_use:$_->[3]" }
               grep { $_->[1] eq 'held' } @all;
is($truth, join(',', map { $held_end{$_} // 'free:' } 1 .. $SLOTS),
   'the simulator holds exactly what the clients think they hold');

for my $via (qw(a b)) {
    my $got;
    wait_for("proxy $via settles", sub {
        $got = join ',', map { ($_->{state} eq 'free' ? 'free'
                                : 'in_use') . ':' . ($_->{meeting} // '') }
                         @{ pool($via)->{slots} };
        $got eq $truth;
    });
    is($got, $truth, "proxy \U$via\E: its slot table equals /_sim/state");
}

$t->done;
