#!/bin/sh
#
# The t/ suite with every nginx process (master, workers, "nginx -t")
# under valgrind memcheck, then a summary of what valgrind found in code
# of ours (any ngx_cms function, hiredis) and in the rest.
#
#   t/memcheck.sh                        every t/*.t ("make memcheck")
#   t/memcheck.sh t/redis*.t t/*_redis.t the Redis tests, or any others
#
# The harness takes its nginx binary from TEST_NGINX_BINARY; this points
# it at a wrapper that execs valgrind on /usr/sbin/nginx (workers are
# forks, so valgrind follows them without --trace-children).  Logs go to
# build/memcheck/vg.<pid>.log.  Exit status: 1 when an invalid
# access, a use of uninitialised memory or a definite leak has a frame of
# ours; test failures alone do not count (valgrind is slow, and a test
# may lose a race it wins natively; they are reported).
#
# "make test" runs it after the suite: some five minutes on two CPUs, one
# test file at a time.  Natively, freed memory still reads as it was, so
# a use after free passes every test there (two did, until this ran).

set -u

cd "$(dirname "$0")/.." || exit 2

out="$PWD/build/memcheck"
rm -rf "$out"
mkdir -p "$out" || exit 2

cat > "$out/nginx" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full \\
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --num-callers=40 --log-file=$out/vg.%p.log /usr/sbin/nginx "\$@"
EOF
chmod +x "$out/nginx"

if [ $# -eq 0 ]; then
    set -- t/*.t
fi

TEST_NGINX_BINARY="$out/nginx" prove "$@" > "$out/prove.log" 2>&1
prove_rc=$?

tail -n 20 "$out/prove.log"

perl - "$out" <<'EOF'
use strict;
use warnings;

my ($dir) = @ARGV;
my (%count, @ours);
my $logs = 0;

for my $log (glob "$dir/vg.*.log") {
    open my $fh, '<', $log or next;
    $logs++;
    local $/;
    my $text = <$fh>;

    # records are separated by an empty "==<pid>== " line
    for my $rec (split /^==\d+==\s*\n/m, $text) {
        my ($kind) = $rec =~ /^==\d+==\ (Invalid\ (?:read|write|free)
                                        |Conditional\ jump
                                        |Use\ of\ uninitialised
                                        |Syscall\ param
                                        |Mismatched\ free
                                        |Source\ and\ destination
                                        |[\d,]+\ (?:\([^)]*\)\ )?bytes\ in
                                         \ [\d,]+\ blocks\ are\ definitely
                                         \ lost)/mx
            or next;
        $kind =~ s/^.* blocks are //;
        my $mine = $rec =~ /ngx_cms_|ngx_http_cms|hiredis|redisAsync
                           |redisFree|redisReader/x;

        # nginx's ngx_regex_compile() makes one PCRE2 compile context per
        # process and keeps it: a leak of nginx's, under our directive
        $mine = 0 if $kind =~ /lost/
                     && $rec =~ /pcre2_compile_context_create.*\n.*ngx_regex_compile/;
        $count{$mine ? 'ours' : 'other'}{$kind}++;
        push @ours, "$log:\n$rec" if $mine;
    }
}

print "\nvalgrind logs: $logs\n";
for my $who ('ours', 'other') {
    my $c = $count{$who} || {};
    print "$who: ",
          (%$c ? join(', ', map { "$_ x$c->{$_}" } sort keys %$c)
               : 'nothing'), "\n";
}
print "\n$_" for @ours;

exit(@ours ? 1 : 0);
EOF
rc=$?

echo "prove exit status: $prove_rc (full output in $out/prove.log)"

exit $rc
