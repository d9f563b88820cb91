package CmsTest;

# A small harness in the spirit of nginx-tests: every .t writes its own
# nginx.conf from a heredoc, gets free loopback ports, starts what it
# needs (nginx with our module, the CMS simulator, redis-server) and, at
# the end, fails if error.log holds an [alert], [emerg] or a sanitizer
# report.  Everything lives in a temporary directory; TEST_LEAVE=1 keeps
# it, TEST_CATLOG=1 prints error.log at the end.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Find qw(find);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use HTTP::Tiny;
use JSON::PP;
use Test::More;

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $MODULE = $ENV{TEST_CMS_MODULE} || "$ROOT/build/ngx_http_cms_module.so";

sub new {
    my ($class, %opt) = @_;

    my $self = bless {
        dir    => tempdir('cms-test-XXXXXXXX', TMPDIR => 1,
                          CLEANUP => !$ENV{TEST_LEAVE}),
        ports  => {},
        pids   => {},
        json   => JSON::PP->new->canonical->utf8,
        owner  => $$,
        allow  => [],
        problems => [],
        t_runs => [],
        %opt,
    }, $class;

    BAIL_OUT("module not built: $MODULE (run make)") unless -f $MODULE;

    # run as root, nginx's workers are "nobody": they must be able to read
    # what the test writes (htpasswd, certificates)
    chmod 0755, $self->{dir};

    return $self;
}

sub dir { $_[0]{dir} }

# A free loopback port per name, stable for the life of the test.
#
# Ports come from a block of 100 chosen by the test's pid, below the
# kernel's ephemeral range (32768+): test files running in parallel then
# use disjoint blocks, and no outgoing connection can take a port between
# the moment it is picked here and the moment a server binds it.
sub port {
    my ($self, $name) = @_;

    return $self->{ports}{$name} //= do {
        $self->{next_port} //= 10000 + ($$ % 220) * 100;

        my $p;
        for (1 .. 100) {
            my $try = $self->{next_port}++;
            $self->{next_port} = 10000 if $self->{next_port} >= 32000;

            my $s = IO::Socket::INET->new(Listen => 1,
                                          LocalAddr => '127.0.0.1',
                                          LocalPort => $try,
                                          ReuseAddr => 1)
                or next;
            close $s;
            $p = $try;
            last;
        }

        die "no free port" unless $p;
        $p;
    };
}

sub write_file {
    my ($self, $name, $content) = @_;

    open my $fh, '>', "$self->{dir}/$name" or die "$name: $!";
    print $fh $content;
    close $fh;
}

sub read_file {
    my ($self, $name) = @_;

    open my $fh, '<', "$self->{dir}/$name" or return '';
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}

# %%MODULE%%, %%TESTDIR%%, %%PORT_name%%, %%GLOBALS%% and %%REDIS_DEBUG%%
# (loads the tests' Redis console, t/redis_debug) are expanded.
sub expand {
    my ($self, $text) = @_;

    my $globals = <<"EOF";
load_module $MODULE;
daemon off;
master_process on;
worker_processes 1;
pid $self->{dir}/nginx.pid;
error_log $self->{dir}/error.log debug;
EOF

    $text =~ s/%%GLOBALS%%/$globals/g;
    $text =~ s/%%MODULE%%/$MODULE/g;
    $text =~ s{%%REDIS_DEBUG%%}
              {load_module $ROOT/build/redis-debug/ngx_cms_redis_debug_module.so;}g;
    $text =~ s/%%TESTDIR%%/$self->{dir}/g;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;

    return $text;
}

sub write_conf {
    my ($self, $conf, $name) = @_;

    $name //= 'nginx.conf';
    $self->write_file($name, $self->expand($conf));
    return $self;
}

# nginx -t on a config; returns (ok, output).  Each run has its own
# error-t.<n>.log; its output and that log are checked by done().
sub nginx_t {
    my ($self, $name) = @_;

    $name //= 'nginx.conf';
    my $n = @{ $self->{t_runs} } + 1;
    my $log = "$self->{dir}/error-t.$n.log";
    my $out = `$NGINX -p $self->{dir}/ -c $self->{dir}/$name -e $log -t 2>&1`;
    my $ok = $? == 0;

    open my $fh, '<', $log;
    my $text = $fh ? do { local $/; <$fh> } : '';
    push @{ $self->{t_runs} }, { name => $name, ok => $ok,
                                 text => "$out\n" . ($text // '') };

    return ($ok, $out);
}

sub run_nginx {
    my ($self, %opt) = @_;

    my $name = $opt{conf} // 'nginx.conf';
    my $key = $opt{key} // 'nginx';
    my $pidfile = $opt{pidfile} // "$self->{dir}/nginx.pid";

    unlink $pidfile;

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        exec($NGINX, '-p', "$self->{dir}/", '-c', "$self->{dir}/$name",
             '-e', "$self->{dir}/error.log")
            or die "exec $NGINX: $!";
    }

    $self->{pids}{$key} = $pid;
    $self->{pidfiles}{$key} = $pidfile;

    for (1 .. 100) {
        last if -s $pidfile;
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pids}{$key};
            diag($self->read_file('error.log'));
            die "nginx exited at start";
        }
        sleep 0.05;
    }

    die "nginx did not start" unless -s $pidfile;

    $self->wait_port($_) for @{ $opt{ports} || [] };

    return $self;
}

# The worker processes of an nginx master (its children).
sub workers {
    my ($self, $key) = @_;

    my $master = $self->{pids}{$key // 'nginx'} or return;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @w, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $master;
    }
    return @w;
}

# HUP, then wait until every worker is one of the new generation (the
# old ones gone); fails the test when that does not happen.
sub reload_nginx {
    my ($self, $key) = @_;

    $key //= 'nginx';
    my %old = map { $_ => 1 } $self->workers($key);
    kill 'HUP', $self->{pids}{$key};

    my $deadline = time + ($NGINX eq '/usr/sbin/nginx' ? 15 : 90);
    while (time < $deadline) {
        my @w = $self->workers($key);
        return 1 if @w && !grep { $old{$_} } @w;
        sleep 0.02;
    }

    $self->problem("nginx ($key): no new workers after HUP");
    return 0;
}

sub stop_nginx {
    my ($self, $key) = @_;

    $key //= 'nginx';
    my $pid = delete $self->{pids}{$key} or return;

    kill 'QUIT', $pid;

    # under valgrind (any other binary than nginx's own) a graceful stop
    # with its leak check takes far longer
    my $wait = $NGINX eq '/usr/sbin/nginx' ? 10 : 120;

    my $deadline = time + $wait;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $self->problem("nginx ($key) master exited with status $?")
                if $?;
            return;
        }
        sleep 0.05;
    }

    $self->problem("nginx ($key) did not stop on QUIT within ${wait} s: "
                   . "TERM");
    kill 'TERM', $pid;
    $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    $self->problem("nginx ($key) did not stop on TERM either: KILL");
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# Something done() must fail on, found before it.
sub problem {
    my ($self, $what) = @_;
    push @{ $self->{problems} }, $what;
}

# A line the test provoked on purpose (a worker it killed, say): a regexp
# for the one line done() must not count.
sub allow_log {
    my ($self, $re) = @_;
    push @{ $self->{allow} }, $re;
}

# The lines of a log that fail a test.  $refused: the text is that of an
# nginx -t which refused its configuration, where [emerg] is the verdict.
sub bad_lines {
    my ($self, $text, $refused) = @_;

    my $levels = $refused ? 'alert|crit' : 'alert|crit|emerg';

    return grep {
        my $line = $_;
        (/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(?:$levels)\]/
         || /^nginx: \[(?:$levels)\]/
         || /worker process \d+ exited on signal/
         || /==\d+==\s*ERROR: \w*Sanitizer|^SUMMARY: \w*Sanitizer
            |runtime\ error:|LeakSanitizer/x)
        && !grep { $line =~ $_ } @{ $self->{allow} }
    } split /\n/, $text // '';
}

# The CMS simulator, as a cluster: bridges => [ { name, user, password,
# tls } ... ].  Ports: port("core1"), port("sim_control").
sub start_sim {
    my ($self, %opt) = @_;

    my @bridges = @{ $opt{bridges} || [
        { name => 'core1', user => 'admin', password => 'secret1' },
        { name => 'core2', user => 'admin2', password => 'secret2' },
    ] };

    my @args = ('--control', '127.0.0.1:' . $self->port('sim_control'),
                '--quiet');

    for my $b (@bridges) {
        push @args, '--bridge', join ',',
            "name=$b->{name}",
            'listen=127.0.0.1:' . $self->port($b->{name}),
            "user=$b->{user}", "password=$b->{password}",
            ($b->{tls} ? ('tls=1') : ());
    }

    push @args, @{ $opt{args} || [] };

    pipe(my $r, my $w) or die "pipe: $!";

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>>', "$self->{dir}/sim.log" or die;
        exec($^X, "$ROOT/t/sim/cms-sim", @args) or die "exec: $!";
    }

    close $w;
    $self->{pids}{sim} = $pid;
    $self->{bridges} = { map { $_->{name} => $_ } @bridges };

    my $sel = IO::Select->new($r);
    my $line = '';
    if ($sel->can_read(20)) {
        $line = <$r> // '';
    }

    die "simulator did not start:\n" . $self->read_file('sim.log')
        unless $line =~ /cms-sim ready/;

    $self->{sim_out} = $r;

    return $self;
}

sub start_redis {
    my ($self, %opt) = @_;

    my $key = $opt{key} // 'redis';
    my $port = $self->port($key);
    my @args = ('--port', $port, '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--dir', $self->{dir},
                '--logfile', "$self->{dir}/$key.log",
                @{ $opt{args} || [] });

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        exec('redis-server', @args) or die "exec redis-server: $!";
    }

    $self->{pids}{$key} = $pid;
    $self->wait_port($port);

    return $port;
}

# A process that outlives its signal by 20 s is killed: Redis can miss a
# SIGTERM that arrives while it starts (a chaos soak waited for one for ten
# minutes), and a wait without an end would hang the run instead.
sub stop_process {
    my ($self, $key, $sig) = @_;

    my $pid = delete $self->{pids}{$key} or return;
    kill $sig // 'TERM', $pid;

    my $deadline = time + 20;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
    }

    print STDERR "# $key ($pid) outlived SIG", $sig // 'TERM',
                 " by 20 s: killed\n";
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub wait_port {
    my ($self, $port) = @_;

    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }

    die "nothing listens on port $port";
}

# HTTP through whatever listens on a port.  Returns { status, headers
# (lower-case names), content }.
sub http {
    my ($self, $method, $port, $path, %opt) = @_;

    my $ua = HTTP::Tiny->new(timeout => $opt{timeout} // 10,
                             keep_alive => 0);

    my %h = %{ $opt{headers} || {} };
    if (defined $opt{user}) {
        require MIME::Base64;
        $h{Authorization} = 'Basic '
            . MIME::Base64::encode_base64("$opt{user}:$opt{password}", '');
    }

    if (defined $opt{body} && !exists $h{'Content-Type'}) {
        $h{'Content-Type'} = 'application/x-www-form-urlencoded';
    }

    my $scheme = $opt{https} ? 'https' : 'http';

    my $res = $ua->request($method, "$scheme://127.0.0.1:$port$path", {
        headers => \%h,
        (defined $opt{body} ? (content => $opt{body}) : ()),
    });

    return $res;
}

# Raw bytes in, raw response out, for requests HTTP::Tiny would not send.
sub raw {
    my ($self, $port, $request, %opt) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 5) or die "connect: $!";
    print $s $request;

    my $sel = IO::Select->new($s);
    my $buf = '';
    my $deadline = time + ($opt{timeout} // 5);

    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }

    close $s;
    return $buf;
}

# The simulator's control API.
sub sim {
    my ($self, $method, $path, $data) = @_;

    my $ua = HTTP::Tiny->new(timeout => 10);
    my $res = $ua->request($method,
        'http://127.0.0.1:' . $self->port('sim_control') . $path, {
            headers => { 'Content-Type' => 'application/json' },
            (defined $data ? (content => $self->{json}->encode($data)) : ()),
        });

    die "sim $method $path: $res->{status} $res->{content}"
        unless $res->{success};

    return length $res->{content}
        ? $self->{json}->decode($res->{content}) : undef;
}

sub sim_requests {
    my ($self, $bridge) = @_;

    return $self->sim('GET', '/_sim/requests'
                      . (defined $bridge ? "?bridge=$bridge" : ''));
}

sub error_log {
    my ($self) = @_;
    return $self->read_file('error.log');
}

# Stops everything and asserts a clean error.log.
sub done {
    my ($self) = @_;

    $self->stop_nginx($_) for grep { /^nginx/ } keys %{ $self->{pids} };
    $self->stop_process($_) for keys %{ $self->{pids} };

    diag($self->error_log) if $ENV{TEST_CATLOG};

    # every log nginx (or a sanitizer, with log_path) may have written,
    # wherever in the test directory; the nginx -t logs are checked with
    # their run's output below
    my @logs;
    find({ no_chdir => 1, wanted => sub {
        push @logs, $_ if -f $_ && basename($_) =~ /\.log$|san\.|sanitizer/
                          && basename($_) !~ /^error-t\.\d+\.log$/;
    } }, $self->{dir});

    my @bad;
    for my $log (sort @logs) {
        open my $fh, '<', $log or next;
        my $text = do { local $/; <$fh> };
        my $name = substr $log, length($self->{dir}) + 1;

        # a log a test's configuration gives its nginx -t runs (error-t*)
        # holds the [emerg] of the configurations they refused
        push @bad, map { "$name: $_" }
                   $self->bad_lines($text, $name =~ /^error-t/);
    }

    for my $run (@{ $self->{t_runs} }) {
        push @bad, map { "nginx -t $run->{name}: $_" }
                   $self->bad_lines($run->{text}, !$run->{ok});
    }

    is(join("\n", @bad, @{ $self->{problems} }), '',
       'no alert, crit, emerg, crashed worker or sanitizer report in any '
       . 'log; nginx stopped on QUIT');

    done_testing();
}

sub DESTROY {
    my ($self) = @_;

    # a forked child of the test must not stop its parent's processes
    return if ($self->{owner} // $$) != $$;

    local $?;
    for my $key (keys %{ $self->{pids} || {} }) {
        my $pid = $self->{pids}{$key};
        kill(($key =~ /^nginx/ ? 'TERM' : 'KILL'), $pid);
        waitpid($pid, 0);
    }
}

1;
