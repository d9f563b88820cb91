
/*
 * ngx_cms: reading a bridge's XML answer (see ngx_cms_xml_read.h).
 */


#include <limits.h>
#include <string.h>

#include "ngx_cms_xml.h"


/* "<!DOCTYPE" in any letter case anywhere in the text */

static int
ngx_cms_xml_read_doctype(const unsigned char *p, size_t len)
{
    size_t                i;
    const unsigned char  *last;

    static const char  name[] = "doctype";

    last = p + len;

    while (last - p >= 9) {
        p = memchr(p, '<', last - p - 8);
        if (p == NULL) {
            return 0;
        }

        if (p[1] == '!') {
            for (i = 0; i < 7; i++) {
                if ((p[2 + i] | 0x20) != name[i]) {
                    break;
                }
            }

            if (i == 7) {
                return 1;
            }
        }

        p++;
    }

    return 0;
}


xmlDocPtr
ngx_cms_xml_read(const unsigned char *data, size_t len,
    ngx_cms_xml_read_e *rc, int *line)
{
    int                 no_line;
    xmlDocPtr           doc;
    xmlParserCtxtPtr    ctxt;
    ngx_cms_xml_read_e  no_rc;

    /* callers that only want the document pass NULL for both */

    if (rc == NULL) {
        rc = &no_rc;
    }

    if (line == NULL) {
        line = &no_line;
    }

    *line = 0;

    if (len == 0 || len > INT_MAX) {
        *rc = NGX_CMS_XML_READ_MALFORMED;
        return NULL;
    }

    if (ngx_cms_xml_read_doctype(data, len)) {
        *rc = NGX_CMS_XML_READ_DOCTYPE;
        return NULL;
    }

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        *rc = NGX_CMS_XML_READ_NOMEM;
        return NULL;
    }

    doc = xmlCtxtReadMemory(ctxt, (const char *) data, (int) len, NULL,
                            "UTF-8",
                            XML_PARSE_NONET|XML_PARSE_IGNORE_ENC
                            |XML_PARSE_NOERROR|XML_PARSE_NOWARNING);

    if (doc == NULL || !ctxt->wellFormed) {
        *line = ctxt->input ? ctxt->input->line : 0;

        if (doc) {
            xmlFreeDoc(doc);
        }

        xmlFreeParserCtxt(ctxt);
        *rc = NGX_CMS_XML_READ_MALFORMED;
        return NULL;
    }

    xmlFreeParserCtxt(ctxt);
    *rc = NGX_CMS_XML_READ_OK;

    return doc;
}
