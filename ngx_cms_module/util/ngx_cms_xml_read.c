
/*
 * ngx_cms: the one hardened parse of bridge XML (include/ngx_cms_xml.h;
 * reference/performance-and-reliability.md §5 says why each option).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <libxml/parser.h>

#include "ngx_cms_xml.h"


xmlDocPtr
ngx_cms_xml_read(u_char *data, size_t len, ngx_uint_t *why)
{
    ngx_uint_t        dummy;
    xmlDocPtr         doc;
    xmlParserCtxtPtr  ctxt;

    if (why == NULL) {
        why = &dummy;
    }

    *why = NGX_CMS_XML_OK;

    if (len == 0 || len > (size_t) NGX_MAX_INT32_VALUE) {
        *why = NGX_CMS_XML_EMPTY;
        return NULL;
    }

    if (ngx_strlcasestrn(data, data + len, (u_char *) "<!DOCTYPE", 9 - 1)
        != NULL)
    {
        *why = NGX_CMS_XML_DOCTYPE;
        return NULL;
    }

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        *why = NGX_CMS_XML_MALFORMED;
        return NULL;
    }

    doc = xmlCtxtReadMemory(ctxt, (char *) data, (int) len, NULL, "UTF-8",
                            XML_PARSE_NONET|XML_PARSE_IGNORE_ENC
                            |XML_PARSE_NOERROR|XML_PARSE_NOWARNING);

    if (doc != NULL && !ctxt->wellFormed) {
        xmlFreeDoc(doc);
        doc = NULL;
    }

    xmlFreeParserCtxt(ctxt);

    if (doc == NULL) {
        *why = NGX_CMS_XML_MALFORMED;
    }

    return doc;
}

