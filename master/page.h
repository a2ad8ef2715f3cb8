/* page.h - the live page /, one self-contained HTML document (page.c). */
#ifndef PAGE_H
#define PAGE_H

extern const char http_live_page[];
extern const unsigned long http_live_page_len;

#endif
