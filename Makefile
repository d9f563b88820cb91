# ngx_cms: build, test and run.
#
#   make          build build/ngx_http_cms_module.so against Debian's nginx
#   make test     install what is missing, build, unit tests, the t/ suite,
#                 a two-minute chaos soak (make chaos, ~3 min),
#                 the t/ suite again with ASan (make asan, ~1.5 min), each
#                 fuzz target for 30 s (make fuzz, ~5 min), and the t/
#                 suite under valgrind (make memcheck)
#   make run      install what is missing, build, start the demo stack
#   make asan     build the module with ASan+UBSan in build-asan/ and run
#                 the t/ suite with it (t/asan.sh)
#   make fuzz     build the libFuzzer targets in t/fuzz and run each for
#                 FUZZ_SECONDS
#   make chaos    the chaos soak, bench/chaos/run (CHAOS_MINUTES, CHAOS_SEED)
#
# The module is built with Debian's recipe (nginx-dev's conf_flags, as in
# debhelper's nginx_mod.pm), in a private copy of /usr/share/nginx/src so
# nothing is written outside this tree.

SHELL      := /bin/bash
BUILD      := $(CURDIR)/build
NGX_SRC    := /usr/share/nginx/src
MODULE     := $(BUILD)/ngx_http_cms_module.so
MODULE_CFG := config $(wildcard ngx_cms_module/*/*.module plugins/*/config.module)
SOURCES    := $(MODULE_CFG) $(filter-out plugins/example/%, \
              $(wildcard ngx_cms_module/*/*.[ch] plugins/*/*.[ch]))
PORT       ?= 8080

# Debian packages the build, the tests and the demo need.
DEB_PKGS   := nginx nginx-dev libxml2-dev libhiredis-dev libpcre2-dev \
              redis-server redis-sentinel libmojolicious-perl \
              libio-socket-ssl-perl libcmocka-dev openssl curl gcc make
# and what only the tests need: make memcheck, make fuzz and make asan,
# Prometheus and promtool (t/prometheus.t), a headless browser
# (t/dashboard.t)
TEST_PKGS  := valgrind clang libclang-rt-14-dev prometheus chromium

# extra compiler and linker options for the module (make asan sets them)
EXTRA_CC_OPT ?=
EXTRA_LD_OPT ?=
# how nginx is run by the smoke test (make asan preloads the ASan runtime)
NGINX_ENV    ?=

# make asan: a separate build tree, so build/ is never touched.  gcc like
# Debian's nginx; Debian's nginx is not instrumented, so gcc's ASan
# runtime is preloaded into it (it must come first among the libraries).
ASAN_BUILD   := $(CURDIR)/build-asan
ASAN_CC_OPT  := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -O1 -U_FORTIFY_SOURCE
ASAN_LIB     := $(shell gcc -print-file-name=libasan.so 2>/dev/null)

# seconds each libFuzzer target runs in make fuzz (and make test)
FUZZ_SECONDS ?= 30

.PHONY: all deps test unit prove memcheck run clean smoke asan fuzz chaos

all: $(MODULE)

deps:
	@missing=""; for p in $(DEB_PKGS) $(EXTRA_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

$(BUILD)/nginx-src/configure:
	mkdir -p $(BUILD)
	rm -rf $(BUILD)/nginx-src
	cp -r $(NGX_SRC) $(BUILD)/nginx-src

# Several builds may run at once (parallel test runs, several shells): the
# configure and compile steps share one build tree, so they take a lock.
LOCK       := flock $(BUILD)/.lock

$(BUILD)/objs/Makefile: $(BUILD)/nginx-src/configure $(MODULE_CFG)
	$(LOCK) bash -c 'cd $(BUILD)/nginx-src && . ./conf_flags && \
	./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC -Werror $(EXTRA_CC_OPT)" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC $(EXTRA_LD_OPT)" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) \
	    --builddir=$(BUILD)/objs > $(BUILD)/configure.log 2>&1' \
	|| { tail -20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/objs/Makefile $(SOURCES)
	$(LOCK) $(MAKE) -s -f $(BUILD)/objs/Makefile -C $(BUILD)/nginx-src modules
	$(LOCK) cp $(BUILD)/objs/ngx_http_cms_module.so $(MODULE).tmp
	mv $(MODULE).tmp $(MODULE)
	@$(MAKE) -s smoke

# The dashboard page, embedded as a C string.  The header is committed (a
# build from the tarball needs no perl step); t/dashboard.t checks it is
# up to date.
ngx_cms_module/http/ngx_cms_dashboard_html.h: dashboard/index.html dashboard/embed.pl
	perl dashboard/embed.pl dashboard/index.html $@

# debhelper's smoke test: the module loads and a minimal config passes -t.
smoke:
	@printf 'load_module %s;\nevents {}\n' $(MODULE) > $(BUILD)/smoke.conf
	@$(NGINX_ENV) nginx -g "error_log /dev/null; pid /dev/null;" -t -q \
	    -c $(BUILD)/smoke.conf && echo "smoke: nginx -t loads $(MODULE)"

unit:
	$(MAKE) -C t/unit
	$(MAKE) -C plugins/policy/unit
	$(MAKE) -f plugins/slots/Makefile.unit

# each run gets its own TMPDIR: nothing else can touch its test directories
# fails too when a .t skipped itself whole: make test installs everything
# the suite needs, so a test that ran nothing is a test that is broken
prove: $(MODULE)
	$(MAKE) -s -C t/redis_debug
	tmp=$$(mktemp -d /tmp/ngx-cms-test.XXXXXX) && chmod 755 $$tmp && \
	{ TMPDIR=$$tmp prove -r -j2 t/; echo $$? > $$tmp/rc; } \
	    | tee $$tmp/prove.out; rc=$$(cat $$tmp/rc); \
	if grep -E '^t/.* skipped:' $$tmp/prove.out; then \
	    echo "prove: the test files above ran nothing"; rc=1; fi; \
	rm -rf $$tmp; exit $$rc

# every nginx process under valgrind; fails on a failed test, a missing
# valgrind log, any valgrind error or definite leak not suppressed as
# nginx's own in t/memcheck.supp (t/memcheck.sh)
memcheck: $(MODULE)
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS)"
	$(MAKE) -s -C t/redis_debug
	sh t/memcheck.sh

# the module with AddressSanitizer and UBSan, in build-asan/, and the t/
# suite with it; fails on any sanitizer report (t/asan.sh)
asan:
	$(MAKE) deps
	$(MAKE) BUILD=$(ASAN_BUILD) EXTRA_CC_OPT="$(ASAN_CC_OPT)" \
	    EXTRA_LD_OPT="-fsanitize=address,undefined" \
	    NGINX_ENV="LD_PRELOAD=$(ASAN_LIB) ASAN_OPTIONS=detect_leaks=0" all
	ASAN_LIB=$(ASAN_LIB) sh t/asan.sh

# every libFuzzer target in t/fuzz for FUZZ_SECONDS seconds
fuzz:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS)"
	$(MAKE) -C t/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

# the chaos soak (bench/chaos/run): make test runs two minutes of it
# with a fixed seed; a longer run: bench/chaos/run --minutes 60
CHAOS_MINUTES ?= 2
CHAOS_SEED    ?= 18

chaos: all
	$(MAKE) deps
	bench/chaos/run --minutes $(CHAOS_MINUTES) --seed $(CHAOS_SEED)

test:
	$(MAKE) deps EXTRA_PKGS="$(TEST_PKGS)"
	$(MAKE) all
	$(MAKE) -C plugins/example
	$(MAKE) unit
	$(MAKE) prove
	$(MAKE) chaos
	$(MAKE) asan
	$(MAKE) fuzz
	$(MAKE) memcheck

run: deps all
	PORT=$(PORT) perl t/run-demo

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
	-$(MAKE) -C t/unit clean
	-$(MAKE) -C plugins/example clean
	-$(MAKE) -C t/redis_debug clean


# --- Debian packages ----------------------------------------------------
#
#   make deb        build/deb/libnginx-mod-http-cms{,-dev}_<version>_*.deb
#                   (and the -dbgsym package in build/deb/debug/), with
#                   dpkg-buildpackage (debian/, dh with the nginx addon)
#                   in a copy of the tree, checked by lintian
#   make test-deb   make deb, then t/deb/test-deb.pl: installs the
#                   packages next to the system nginx, runs it, removes
#                   and purges them (root; leaves the machine as found)
#
# Self-contained on purpose (its own variables and .PHONY, nothing above
# changed), so it merges cleanly with other edits to this Makefile.

DEB_OUT    := $(BUILD)/deb
DEB_WORK   := $(BUILD)/deb-src
# the tree the source package is made of (no tests, no benchmarks)
DEB_TREE   := config ngx_cms_module plugins conf README.md debian
# what building and checking packages needs besides the Build-Depends
DEB_TOOLS  := build-essential dpkg-dev debhelper lintian
# what t/deb/test-deb.pl needs besides DEB_PKGS
DEB_TEST_PKGS := $(DEB_TOOLS) redis-server libmojolicious-perl openssl

deb:
	$(MAKE) deps EXTRA_PKGS="$(DEB_TOOLS)"
	@set -e; ver=$$(dpkg-parsechangelog -l debian/changelog -S Version); \
	src=$(DEB_WORK)/libnginx-mod-http-cms-$$ver; \
	rm -rf $(DEB_WORK) $(DEB_OUT); mkdir -p $$src $(DEB_OUT); \
	{ git ls-files -co --exclude-standard -- $(DEB_TREE) 2>/dev/null \
	  || find $(DEB_TREE) -type f; } | tar -cf - -T - | tar -xf - -C $$src; \
	cd $$src; \
	if ! dpkg-checkbuilddeps 2>/dev/null; then \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get build-dep -y -qq ./; \
	fi; \
	dpkg-buildpackage -us -uc -b > $(DEB_WORK)/build.log 2>&1 \
	    || { tail -40 $(DEB_WORK)/build.log; exit 1; }; \
	lintian --fail-on error,warning --info $(DEB_WORK)/*.changes
	mkdir -p $(DEB_OUT)/debug
	mv $(DEB_WORK)/*-dbgsym_*.deb $(DEB_OUT)/debug/
	mv $(DEB_WORK)/*.deb $(DEB_OUT)/
	@ls -l $(DEB_OUT)/*.deb $(DEB_OUT)/debug/*.deb

test-deb: deb
	$(MAKE) deps EXTRA_PKGS="$(DEB_TEST_PKGS)"
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	tmp=$$(mktemp -d /tmp/ngx-cms-test-deb.XXXXXX) && chmod 755 $$tmp && \
	$$SUDO env TMPDIR=$$tmp flock /run/lock/ngx-cms-test-deb.lock \
	    prove -v t/deb/test-deb.pl; rc=$$?; $$SUDO rm -rf $$tmp; exit $$rc

.PHONY: deb test-deb
