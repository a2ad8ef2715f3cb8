/* placeholder until the page lands */
#include "page.h"
const char http_live_page[] = "<!doctype html><title>smp</title><p>placeholder</html>\n";
const unsigned long http_live_page_len = sizeof http_live_page - 1;
