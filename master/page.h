/*
 * page.h - the live page (master/page.c): the HTML document the master
 * serves at / with --http, and its length without the final NUL.
 */
#ifndef MASTER_PAGE_H
#define MASTER_PAGE_H

extern const char http_live_page[];
extern const unsigned long http_live_page_len;

#endif
