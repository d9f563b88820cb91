package CmsSim::XML;

# Byte-exact XML writer for CMS responses.
#
# What a real CMS sends (cms-api-notes 1.4, seed 000, BASIC-DOC):
#   * the document starts with '<?xml version="1.0"?>' and a newline, with no
#     encoding declaration, followed by compact XML (the line breaks in the
#     seed trace come from the CMS log format, not from the body);
#   * collections are '<plural total="N">' with '<singular id="...">'
#     children; an empty collection is written open/close:
#     '<participants total="0"></participants>' (seed 000, trace 9497);
#   * empty text elements are open/close too: '<sipDomain></sipDomain>'
#     (seed 000, trace 8891);
#   * failureDetails reasons are self-closed WITH a space before "/>":
#     '<failureDetails><coSpaceDoesNotExist /></failureDetails>' (BASIC-DOC).
#
# All values are byte strings and are escaped, never transcoded.

use v5.36;
use Exporter 'import';

our @EXPORT_OK = qw(xml_escape el raw_el obj obj_empty list_doc document failure_doc);

use constant DECLARATION => qq{<?xml version="1.0"?>\n};

sub xml_escape ($s) {
  $s =~ s/&/&amp;/g;
  $s =~ s/</&lt;/g;
  $s =~ s/>/&gt;/g;
  $s =~ s/"/&quot;/g;
  $s =~ s/'/&apos;/g;
  return $s;
}

# <name>value</name>, or nothing when the value is undefined (CMS omits
# elements for unset fields rather than writing them empty).
sub el ($name, $value) {
  return '' unless defined $value;
  return "<$name>" . xml_escape($value) . "</$name>";
}

# <name>already-rendered children</name> (for nested blocks like <status>).
sub raw_el ($name, $inner) { "<$name>$inner</$name>" }

# <tag id="ID">children</tag>
sub obj ($tag, $id, @children) {
  return qq{<$tag id="} . xml_escape($id) . q{">} . join('', @children) . "</$tag>";
}

# <tag id="ID"/>: the self-closed list item APIARY shows for callProfiles.
sub obj_empty ($tag, $id) { qq{<$tag id="} . xml_escape($id) . q{"/>} }

# <plural total="N">items</plural>
sub list_doc ($plural, $total, @items) {
  return document(qq{<$plural total="$total">} . join('', @items) . "</$plural>");
}

sub document ($root) { DECLARATION . $root }

# failureDetails with one reason. $attrs is an optional array ref of
# [name => value] pairs, e.g. parameterError's parameter/error attributes.
sub failure_doc ($reason, $attrs = []) {
  my $a = join '', map { qq{ $_->[0]="} . xml_escape($_->[1]) . q{"} } @$attrs;
  return document("<failureDetails><$reason$a /></failureDetails>");
}

1;
