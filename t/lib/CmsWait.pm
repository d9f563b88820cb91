package CmsWait;

# Polling for a condition with a deadline, for tests that wait on
# something asynchronous (Redis replies landing, a failover, a spool
# being replayed).  Fails soft: returns 0 and says what it gave up on.

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(wait_for);

sub wait_for {
    my ($what, $cond, $limit) = @_;
    my $deadline = time + ($limit // 10);
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }
    diag("gave up waiting for $what");
    return 0;
}

1;
