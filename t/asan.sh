#!/bin/sh
#
# The t/ suite against the module built with AddressSanitizer and UBSan
# (build-asan/, "make asan"), in Debian's nginx with the ASan runtime
# preloaded: nginx itself is not instrumented, so the runtime has to be
# the first library loaded, before the module that needs it.
#
#   t/asan.sh                   every t/*.t
#   t/asan.sh t/slots*.t        some of them
#
# The harness takes its nginx binary from TEST_NGINX_BINARY and the module
# from TEST_CMS_MODULE.  The wrapper below sends each process's sanitizer
# report to <test dir>/sanitizer/ (the -p prefix the harness passes; a
# directory every worker, running as nobody, can write), which
# CmsTest::done() reads with error.log: a report fails the test that
# caused it.  Reports from an nginx run without -p go to build-asan/logs/.
#
# Leaks are left to "make memcheck" (LeakSanitizer cannot tell nginx's
# memory kept to exit from a leak, and needs ptrace); ASan adds what
# valgrind cannot see: stack and global overflows, and UBSan's undefined
# behaviour.  nginx's pools hand out pieces of large blocks, so an
# overflow inside a pool block is invisible to both.
#
# Exit status: prove's, or 1 when a report was left in build-asan/logs/.

set -u

cd "$(dirname "$0")/.." || exit 2

out="$PWD/build-asan"
mod="$out/ngx_http_cms_module.so"
lib="${ASAN_LIB:-$(gcc -print-file-name=libasan.so)}"

[ -f "$mod" ] || { echo "$mod: not built (make asan)"; exit 2; }
[ -f "$lib" ] || { echo "no ASan runtime ($lib)"; exit 2; }

rm -rf "$out/logs"
mkdir -p "$out/logs" && chmod 1777 "$out/logs" || exit 2

cat > "$out/nginx" <<EOF
#!/bin/sh
dir=$out/logs
prev=
for a in "\$@"; do
    [ "\$prev" = -p ] && dir="\${a%/}/sanitizer"
    prev=\$a
done
mkdir -p "\$dir" && chmod 1777 "\$dir"
opts="log_path=\$dir/report:log_exe_name=0"
export LD_PRELOAD="$lib"
export ASAN_OPTIONS="\$opts:detect_leaks=0:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="\$opts:print_stacktrace=1:halt_on_error=0"
exec /usr/sbin/nginx "\$@"
EOF
chmod +x "$out/nginx"

if [ $# -eq 0 ]; then
    set -- t/*.t
fi

tmp=$(mktemp -d /tmp/ngx-cms-asan.XXXXXX) && chmod 755 "$tmp" || exit 2

TMPDIR="$tmp" TEST_NGINX_BINARY="$out/nginx" TEST_CMS_MODULE="$mod" \
    prove -j2 "$@"
rc=$?
rm -rf "$tmp"

if ls "$out"/logs/report* > /dev/null 2>&1; then
    echo "sanitizer reports outside a test directory:"
    cat "$out"/logs/report*
    rc=1
fi

exit $rc
