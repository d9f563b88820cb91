
/*
 * ngx_cms: reading a bridge's XML answer into a libxml2 tree, the one
 * hardened parse every reader of bridge XML uses (the response hooks, the
 * health check's <status>, discovery's /callBridges, affinity's listings,
 * the moves, slots and recovery plugins).  Pure code (lib/): plain
 * buffers, no nginx types, so it can be fuzzed alone (t/fuzz).
 *
 * No DTD: a DOCTYPE is refused before libxml2 sees the text, so no
 * entity is ever declared (no expansion, no external entity); no
 * network; UTF-8 whatever the declaration or a BOM says (the DOCTYPE
 * check must see the bytes libxml2 parses); errors are not printed.
 */


#ifndef _NGX_CMS_XML_H_INCLUDED_
#define _NGX_CMS_XML_H_INCLUDED_


#include <stddef.h>

#include <libxml/parser.h>


typedef enum {
    NGX_CMS_XML_READ_OK = 0,
    NGX_CMS_XML_READ_DOCTYPE,       /* refused */
    NGX_CMS_XML_READ_MALFORMED,     /* not well-formed, or empty */
    NGX_CMS_XML_READ_NOMEM
} ngx_cms_xml_read_e;


/*
 * The document, or NULL and why (*rc); *line: where a malformed text
 * went wrong (0 unknown); either may be NULL.  Nothing is logged: the
 * caller knows whether a failure is news.  The caller frees the
 * document (xmlFreeDoc).
 */

xmlDocPtr ngx_cms_xml_read(const unsigned char *data, size_t len,
    ngx_cms_xml_read_e *rc, int *line);


#endif /* _NGX_CMS_XML_H_INCLUDED_ */
