/* generated from dashboard/index.html by dashboard/embed.pl */

static const char  ngx_cms_dashboard_html[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>ngx_cms</title>\n"
    "<script>/*CMS_CONFIG*/</script>\n"
    "</head><body>placeholder</body></html>\n"
    ;
