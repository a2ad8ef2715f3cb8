/*
 * json.c - JSON strings for the programs that print JSON lines: the
 * client's --json and --batches --json (report/report.c) and the master's
 * --dump-journal (master/journal_dump.c). Bytes that are not UTF-8 go in
 * base64 instead, so that no byte is lost and every line is valid JSON.
 */
#include "json.h"

int utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* RFC 8259's escape of one byte, or NULL if it goes as it is. */
static const char *json_escape(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c >= 0x20 && c != 0x7F)
            return NULL;
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
}

int json_write_string(FILE *f, const char *s, size_t n)
{
    if (!utf8_valid((const uint8_t *)s, n))
        return -1;
    char tmp[8];
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        const char *e = json_escape((unsigned char)s[i], tmp);
        if (e)
            fputs(e, f);
        else
            fputc(s[i], f);
    }
    fputc('"', f);
    return 0;
}

int json_bw_string(bwriter *w, const char *s, size_t n)
{
    if (!utf8_valid((const uint8_t *)s, n))
        return -1;
    char tmp[8];
    bw_u8(w, '"');
    size_t plain = 0; /* bytes before i that go as they are */
    for (size_t i = 0; i < n; i++) {
        const char *e = json_escape((unsigned char)s[i], tmp);
        if (!e)
            continue;
        bw_bytes(w, s + plain, i - plain);
        bw_str(w, e);
        plain = i + 1;
    }
    bw_bytes(w, s + plain, n - plain);
    bw_u8(w, '"');
    return 0;
}

void base64_write(FILE *f, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputc('"', f);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(tbl[v >> 18 & 63], f);
        fputc(tbl[v >> 12 & 63], f);
        fputc(i + 1 < n ? tbl[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tbl[v & 63] : '=', f);
    }
    fputc('"', f);
}

