
/*
 * ngx_cms: the shape of each element of an XML text, in document order.
 *
 * libxml2 forgets whether an empty element was written <a/>, <a /> or
 * <a></a>, but CMS clients (xmltodict users above all) can tell the
 * difference, so a response we re-serialize must keep each element's
 * original shape.  This scanner records it.  Pure code: plain buffers,
 * no nginx types, no allocation.
 */


#ifndef _NGX_CMS_XML_SHAPE_H_INCLUDED_
#define _NGX_CMS_XML_SHAPE_H_INCLUDED_


#include <stddef.h>


#define NGX_CMS_XML_SELF_CLOSED   0x01    /* <a/> or <a /> */
#define NGX_CMS_XML_SPACE_SLASH   0x02    /* <a /> */


/*
 * Fills shapes[i] for the i-th start tag (document order, i < max) and
 * sets *n to the number of start tags seen.  Skips comments, CDATA,
 * processing instructions, declarations and end tags; honours quotes in
 * attribute values.  Returns 0, or -1 on a text it cannot scan (it is
 * then not re-serialized).  The prolog length (bytes before the first
 * start tag) and the epilog offset (after the root element) are returned so
 * the serializer can keep them byte for byte.
 */

int ngx_cms_xml_scan_shapes(const unsigned char *p, size_t len,
    unsigned char *shapes, size_t max, size_t *n, size_t *prolog,
    size_t *epilog);


#endif /* _NGX_CMS_XML_SHAPE_H_INCLUDED_ */
