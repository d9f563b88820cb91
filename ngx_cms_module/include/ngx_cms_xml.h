
/*
 * ngx_cms: the one hardened parse of a bridge's XML answer
 * (ngx_cms_xml_read.c).  Every reader of bridge XML uses it: the
 * response filter, health checks, discovery, call affinity, and the
 * moves and slots plugins.
 *
 * A document with a DOCTYPE is refused before libxml2 sees it (CMS never
 * sends one, and every entity trick needs one); no NOENT, no DTDLOAD, no
 * HUGE; NONET; the bytes are read as UTF-8 whatever they declare (so the
 * DOCTYPE check saw what libxml2 parses); only a well-formed document is
 * returned.  libxml2's own depth and size limits apply; the caller has
 * capped the size already.  Nothing is logged: the caller knows whether
 * a failure is news.  Free the result with xmlFreeDoc().
 */


#ifndef _NGX_CMS_XML_H_INCLUDED_
#define _NGX_CMS_XML_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


struct _xmlDoc;

#define NGX_CMS_XML_OK         0
#define NGX_CMS_XML_EMPTY      1
#define NGX_CMS_XML_DOCTYPE    2
#define NGX_CMS_XML_MALFORMED  3

/* the document, or NULL with *why (if given) set to NGX_CMS_XML_* */
struct _xmlDoc *ngx_cms_xml_read(u_char *data, size_t len, ngx_uint_t *why);


#endif /* _NGX_CMS_XML_H_INCLUDED_ */
