#!/bin/sh
#
# The t/ suite with every nginx process (master, workers, "nginx -t")
# under valgrind memcheck.
#
#   t/memcheck.sh                        every t/*.t ("make memcheck")
#   t/memcheck.sh t/redis*.t t/*_redis.t the Redis tests, or any others
#
# The harness takes its nginx binary from TEST_NGINX_BINARY; this points
# it at a wrapper that notes each start (build/memcheck/runs) and execs
# valgrind on /usr/sbin/nginx (workers are forks, so valgrind follows
# them without --trace-children).  Logs go to build/memcheck/vg.<pid>.log.
#
# Exit status 1 when any of these holds:
#   - a test failed (prove's exit status): a test that fails only under
#     valgrind's slowness is a test to fix (wait for the event it needs),
#     not a failure to excuse;
#   - valgrind did not start, or an nginx start left no valgrind log;
#   - a valgrind log holds anything but its header, its summaries and
#     the large-range notes of shared memory zones: every error kind
#     (invalid access or jump, uninitialised value, bad free or syscall
#     parameter, overlap, fishy value, a fatal signal, ...) and every
#     definite leak, whoever's frames it has;
#   - a log's ERROR SUMMARY counts errors.
# nginx's own leaks are suppressed by exact stack in t/memcheck.supp,
# each with a comment saying why it is nginx's and not ours.
#
# MEMCHECK_SCAN_ONLY=1 t/memcheck.sh judges what build/memcheck holds
# (its runs file and vg.*.log) without running anything.
#
# "make test" runs it after the suite: some six minutes on two CPUs, one
# test file at a time.  Natively, freed memory still reads as it was, so
# a use after free passes every test there (two did, until this ran).

set -u

cd "$(dirname "$0")/.." || exit 2

out="$PWD/build/memcheck"
supp="$PWD/t/memcheck.supp"
scan_only=${MEMCHECK_SCAN_ONLY:-}
if [ -z "$scan_only" ]; then
    rm -rf "$out"
fi
mkdir -p "$out" || exit 2

if ! valgrind --version > /dev/null 2>&1; then
    echo "memcheck: valgrind does not run (make deps EXTRA_PKGS=valgrind)"
    exit 1
fi

# MEMCHECK_GEN=1 adds valgrind's own suppression text after each error
# (to write t/memcheck.supp); the summary below skips it
gen=
[ "${MEMCHECK_GEN:-}" = 1 ] && gen=--gen-suppressions=all

cat > "$out/nginx" <<EOF
#!/bin/sh
echo "\$\$ \$*" >> $out/runs
exec valgrind --tool=memcheck --leak-check=full \\
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --suppressions=$supp $gen \\
    --num-callers=40 --log-file=$out/vg.%p.log /usr/sbin/nginx "\$@"
EOF
chmod +x "$out/nginx"

if [ $# -eq 0 ]; then
    set -- t/*.t
fi

if [ -z "$scan_only" ]; then
    TEST_NGINX_BINARY="$out/nginx" prove "$@" > "$out/prove.log" 2>&1
    prove_rc=$?
    tail -n 20 "$out/prove.log"
else
    prove_rc=0
fi

perl - "$out" <<'EOF'
use strict;
use warnings;

my ($dir) = @ARGV;
my (%count, @errors, @problems);
my ($logs, $killed) = (0, 0);

# every start of the wrapper must have left a log of a valgrind that ran
my @runs;
if (open my $fh, '<', "$dir/runs") {
    @runs = map { /^(\d+)/ ? $1 : () } <$fh>;
}
push @problems, 'no nginx was started under valgrind' unless @runs;
for my $pid (@runs) {
    my $log = "$dir/vg.$pid.log";
    open my $fh, '<', $log or do {
        push @problems, "nginx start $pid: no valgrind log";
        next;
    };
    my $head = do { local $/; <$fh> } // '';
    push @problems, "nginx start $pid: valgrind did not start"
        unless $head =~ /^==\d+== Memcheck, a memory error detector/m;
}

for my $log (sort glob "$dir/vg.*.log") {
    open my $fh, '<', $log or next;
    $logs++;
    my $text = do { local $/; <$fh> };

    # only valgrind's own lines; MEMCHECK_GEN's suppressions are not
    my @lines = map { /^==\d+== ?(.*)$/ ? $1 : () } split /\n/, $text;

    my ($summary) = $text =~ /^==\d+== ERROR SUMMARY: ([\d,]+) errors/m;
    if (!defined $summary) {
        # a process the test killed with -9 (or still running): valgrind
        # had no chance to write its summary; what it found until then
        # is still judged below
        $killed++;
    } elsif ($summary ne '0') {
        push @problems, "$log: ERROR SUMMARY: $summary errors";
    }

    # records are separated by an empty line
    my @recs = ([]);
    for (@lines) {
        if ($_ eq '') {
            push @recs, [] if @{ $recs[-1] };
        } else {
            push @{ $recs[-1] }, $_;
        }
    }

    for my $rec (@recs) {
        next unless @$rec;
        my $first = $rec->[0];

        # what every log holds
        next if grep { index($first, $_) == 0 }
            'Memcheck, a memory error detector', 'HEAP SUMMARY:',
            'LEAK SUMMARY:', 'ERROR SUMMARY:', 'All heap blocks were freed',
            'For lists of detected', 'For counts of detected',
            'Reachable blocks', 'To see them, rerun', 'Use --track-origins',
            'Rerun with';

        # each nginx -t, master and worker maps its shared memory zones;
        # valgrind notes a large mapping, which is no error
        next unless grep {
            !/^Warning: set address range perms: large range \[0x[0-9a-f]+, \+\d+\) \((?:no)?(?:access|defined|undefined)\)$/
        } @$rec;

        my $kind = $first;
        $kind =~ s/^[\d,]+ (\([^)]*\) )?bytes in [\d,]+ blocks are //;
        $kind =~ s/ (at|in loss record|of size|address) .*//;
        $kind =~ s/0x[0-9A-Fa-f]+/0x../g;
        my $mine = grep { /ngx_cms_|ngx_http_cms|hiredis|redisAsync
                           |redisFree|redisReader/x } @$rec;
        $count{$mine ? 'ours' : 'other'}{$kind}++;
        push @errors, "$log:\n" . join("\n", @$rec) . "\n";
    }
}

print "\nnginx starts under valgrind: ", scalar(@runs),
      ", valgrind logs: $logs (without a summary, killed by a test: ",
      "$killed)\n";
for my $who ('ours', 'other') {
    my $c = $count{$who} || {};
    print "errors with a frame of ours / without: $who: ",
          (%$c ? join(', ', map { "$_ x$c->{$_}" } sort keys %$c)
               : 'nothing'), "\n";
}
print "\n$_" for @errors;
print "\nmemcheck: $_\n" for @problems;

exit(@errors || @problems ? 1 : 0);
EOF
rc=$?

[ -z "$scan_only" ] &&
    echo "prove exit status: $prove_rc (full output in $out/prove.log)"

if [ $prove_rc -ne 0 ]; then
    echo "memcheck: a test failed under valgrind"
    rc=1
fi

exit $rc
