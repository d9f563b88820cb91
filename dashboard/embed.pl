#!/usr/bin/env perl
# dashboard/index.html as a C string: ngx_cms_module/http/ngx_cms_dashboard_html.h
# (run by make; the header is committed so a build needs no perl step)
use strict;
use warnings;
my ($in, $out) = @ARGV;
open my $fh, '<', $in or die "$in: $!";
my $html = do { local $/; <$fh> };
close $fh;
my $c = "/* generated from dashboard/index.html by dashboard/embed.pl */\n\n"
      . "static const char  ngx_cms_dashboard_html[] =\n";
for my $line (split /(?<=\n)/, $html) {
    $line =~ s/([\\"])/\\$1/g;
    $line =~ s/\n/\\n/g;
    $line =~ s/\t/\\t/g;
    $line =~ s/([^\x20-\x7e])/sprintf("\\%03o", ord($1))/ge;
    $c .= "    \"$line\"\n";
}
$c .= "    ;\n";
open my $o, '>', "$out.tmp" or die "$out: $!";
print $o $c;
close $o;
rename "$out.tmp", $out or die "$out: $!";
