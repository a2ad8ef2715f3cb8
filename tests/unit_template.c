/* Unit tests: commands from a template (report/template.c) and where the
 * master is (report/master_addr.c). The expected lines of the table are
 * GNU parallel 20221122's own: `parallel -k --dry-run WORDS...` printed
 * them, byte for byte (tests/template.t checks the same against the
 * installed parallel, through the client). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/master_addr.h"
#include "report/template.h"
#include "tap.h"

#define MAXW 40

static const struct {
    int n;
    const char *w[MAXW];
    const char *want;
} cases[] = {
    {4, {"echo", ":::", "a", "b c"}, "echo a\necho 'b c'\n"},
    {15, {"echo", "{}", "{.}", "{/}", "{//}", "{/.}", "{#}", ":::", "/a/b.c", "d.tar.gz", "x/", ".bashrc", "a/.b", "/", ""}, "echo /a/b.c /a/b b.c /a b 1\necho d.tar.gz d.tar d.tar.gz . d.tar 2\necho x/ x/ '' . '' 3\necho .bashrc '' .bashrc . '' 4\necho a/.b a/ .b a '' 5\necho / / '' / '' 6\necho '' '' '' . '' 7\n"},
    {7, {"echo", ":::", "1", "2", ":::", "a", "b"}, "echo 1 a\necho 1 b\necho 2 a\necho 2 b\n"},
    {9, {"echo", "{2}-{1}", ":::", "1", "2", ":::", "a", "b", "c"}, "echo a-1\necho b-1\necho c-1\necho a-2\necho b-2\necho c-2\n"},
    {8, {"echo", ":::", "1", "2", ":::+", "a", "b", "c"}, "echo 1 a\necho 2 b\n"},
    {11, {"echo", "{1}{2}{3}", ":::", "1", "2", ":::+", "a", "b", ":::", "X", "Y"}, "echo 1aX\necho 1aY\necho 2bX\necho 2bY\n"},
    {6, {"echo", ":::", "1", "2", "::::", "af1"}, "echo 1 p\necho 1 'q r'\necho 1 ''\necho 2 p\necho 2 'q r'\necho 2 ''\n"},
    {6, {"echo", ":::", "1", "2", "::::+", "af1"}, "echo 1 p\necho 2 'q r'\n"},
    {8, {"echo", "{1.}", "{2/}", "{2//}", "{1/.}", "::::", "af2", "af1"}, "echo x p . x\necho x 'q r' . x\necho x '' . x\necho /d/y.tar p . y.tar\necho /d/y.tar 'q r' . y.tar\necho /d/y.tar '' . y.tar\n"},
    {7, {"echo", "{3}", "{1}x", ":::", "a", ":::", "b"}, "echo  ax\n"},
    {4, {"echo", ":::", "a", ":::"}, "echo a ''\n"},
    {4, {"echo", ":::", ":::", "a"}, "echo '' a\n"},
    {2, {"echo", ":::"}, ""},
    {3, {":::", "echo 'x y'", "echo b"}, "echo 'x y'\necho b\n"},
    {5, {":::", "echo", ":::", "a b", "c"}, "echo a b\necho c\n"},
    {5, {"echo {} | wc", "-c", ":::", "a", "b c"}, "echo a | wc -c\necho 'b c' | wc -c\n"},
    {3, {"x{}y", ":::", "a b"}, "xa by\n"},
    {9, {"echo", "{0}", "{a}", "{1..}", "{##}", "{ }", "{}}", ":::", "v"}, "echo v {a} {1..} {##} { } v}\n"},
    {4, {"echo", ":::", "a\nb", "c"}, "echo a\necho b\necho c\n"},
    {33, {"echo", ":::", "'", "''", "a'", "'a", "x'y'z", "$x", "\\", "!", "a\tb", "~", "%", "@", ",", ":", "=", "^", "é", "A+B-C_D.E/F", "*.c", "a\"b", "-n", "a=b", " ", "$(rm x)", "`x`", ";", "&", "|", "<>", "#", "{}"}, "echo \"'\"\necho \"'\"''\"'\"\necho 'a'\"'\"\necho \"'\"'a'\necho 'x'\"'\"'y'\"'\"'z'\necho '$x'\necho '\\'\necho '!'\necho 'a\tb'\necho '~'\necho '%'\necho '@'\necho ','\necho ':'\necho '='\necho '^'\necho 'é'\necho A+B-C_D.E/F\necho '*.c'\necho 'a\"b'\necho -n\necho 'a=b'\necho ' '\necho '$(rm x)'\necho '`x`'\necho ';'\necho '&'\necho '|'\necho '<>'\necho '#'\necho '{}'\n"},
    {4, {"printf", "%s\\n", ":::", "a"}, "printf %s\\n a\n"},
    {6, {"echo", "{#}", "{#}", ":::", "a", "b"}, "echo 1 1\necho 2 2\n"},
    {11, {"echo", "{0}", "{0.}", "{-1}", "{-2/}", "{01}", "{1.}x", ":::", "a/b.c", ":::", "d.e"}, "echo a/b.c d.e a/b d d.e b.c a/b.c a/bx\n"},
    {6, {"echo", "{0}", "{00}", ":::", "a", "b c"}, "echo a \necho 'b c' \n"},
    {4, {"#", "{}", ":::", "a"}, "# a\n"},
    {3, {"x{}y z", ":::", "a b"}, "xa by z\n"},
    {3, {"{} {}", ":::", "a b.c"}, "a b.c a b.c\n"},
    {5, {"{.}", "{}", ":::", "a b.c", "'q'"}, "a b a b.c\n'q' 'q'\n"},
    {5, {"V={}", "echo", "{}", ":::", "a b"}, "V='a b' echo 'a b'\n"},
    {3, {" echo", ":::", "a b"}, " echo 'a b'\n"},
    {6, {"my_{1}", "{2}", ":::", "a b", ":::", "c d"}, "my_a b c d\n"},
    {15, {"echo", "{/}", "{//}", "{.}", ":::", "a//b//", "///x", "..", "./a", "a b/c.d e", "/x//", "a.b.c", "a.", "a/b.c/d", "/x.y/"}, "echo '' a a//b//\necho x / ///x\necho .. . .\necho a . ./a\necho 'c.d e' 'a b' 'a b/c'\necho '' / /x//\necho a.b.c . a.b\necho a. . a\necho d a/b.c a/b.c/d\necho '' / /x.y/\n"},
};

/* All the lines of a template, each followed by a newline; NULL with err
 * if template_parse refused it. */
static char *generate(int n, const char *const *w, char *err, size_t errlen)
{
    template t;
    if (template_parse(&t, n, (char *const *)w, err, errlen) < 0)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *line;
    size_t ll;
    uint32_t seq, want = 1;
    int r;
    while ((r = template_next(&t, &line, &ll, &seq)) > 0) {
        if (seq != want++)
            fprintf(f, "[seq %u]", seq);
        fwrite(line, 1, ll, f);
        fputc('\n', f);
    }
    if (r < 0)
        fputs("[error]", f);
    fclose(f);
    template_free(&t);
    return out;
}

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        char *got = generate(cases[i].n, cases[i].w, err, sizeof err);
        char desc[200];
        snprintf(desc, sizeof desc, "case %zu (", i + 1);
        for (int k = 0; k < cases[i].n && strlen(desc) < 150; k++)
            snprintf(desc + strlen(desc), sizeof desc - strlen(desc), "%s%s", k ? " " : "", cases[i].w[k]);
        for (char *p = desc; *p; p++)
            if (*p == '\n' || *p == '#')
                *p = '?';
        ok(got && !strcmp(got, cases[i].want), "%s): as GNU parallel's --dry-run", desc);
        if (!got || strcmp(got, cases[i].want))
            printf("#   got '%s' (%s), expected '%s'\n", got ? got : "", err, cases[i].want);
        free(got);
    }
}

static void test_quote(void)
{
    static const struct { const char *in, *out; } q[] = {
        {"", "''"}, {"abcXYZ019-_.+/", "abcXYZ019-_.+/"}, {"a b", "'a b'"}, {"'", "\"'\""},
        {"''", "\"'\"''\"'\""}, {"'a'", "\"'\"'a'\"'\""}, {"\n", "'\n'"}, {"\xc3\xa9", "'\xc3\xa9'"},
        {"a'b", "'a'\"'\"'b'"}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        char *b = NULL;
        size_t len = 0, cap = 0;
        ok(template_quote(&b, &len, &cap, q[i].in, strlen(q[i].in)) == 0 && len == strlen(q[i].out) &&
               !memcmp(b, q[i].out, len), "quote %zu, as GNU parallel quotes it", i + 1);
        free(b);
    }
}

static int refused(int n, const char *const *w, const char *needle)
{
    char err[512] = "";
    char *got = generate(n, w, err, sizeof err);
    int r = !got && strstr(err, needle) != NULL;
    if (!r)
        printf("#   err '%s', wanted '%s'\n", err, needle);
    free(got);
    return r;
}

static void test_refused(void)
{
    const char *slot[] = {"echo", "{%}", ":::", "a"};
    ok(refused(4, slot, "{%} (GNU parallel's job slot) has no meaning here"), "%s is refused, with why", "{%}");
    const char *link[] = {"echo", ":::+", "a"};
    ok(refused(3, link, "':::+' links a source to the one before it: there is none"), ":::+ first is refused");
    const char *nofile[] = {"echo", ":::", "a", "::::"};
    ok(refused(4, nofile, "'::::' without a file name"), ":::: without a file is refused");
    const char *missing[] = {"echo", "::::", "/nonexistent/argfile"};
    ok(refused(3, missing, ":::: '/nonexistent/argfile': cannot read it: No such file"), "an unreadable :::: file");
    const char *none[] = {"echo", "a"};
    ok(refused(2, none, "no input source"), "no source: refused");
    /* 65536^2 * 2: more than seq can number */
    static char *big[3 + 65536 + 1 + 65536 + 1 + 2];
    int n = 0;
    big[n++] = "echo";
    for (int s = 0; s < 2; s++) {
        big[n++] = ":::";
        for (int i = 0; i < 65536; i++)
            big[n++] = "x";
    }
    big[n++] = ":::";
    big[n++] = "a";
    big[n++] = "b";
    ok(refused(n, (const char *const *)big, "more than 4294967294 commands"), "too many commands: refused");
}

static void test_many(void)
{
    /* 3 x 4 x 5 with a linked source: the count, the order, the seqs */
    const char *w[] = {"{1}{2}{3}{4}", ":::", "a", "b", "c", ":::", "1", "2", "3", "4", ":::+", "w", "x", "y", "z",
                       "extra", ":::", "A", "B", "C", "D", "E"};
    char err[256];
    char *got = generate((int)(sizeof w / sizeof w[0]), w, err, sizeof err);
    ok(got != NULL, "a larger product");
    int lines = 0;
    for (char *p = got; p && *p; p++)
        lines += *p == '\n';
    is_int(lines, 60, "3 x 4 (linked to 5: the shortest) x 5 = 60 lines");
    ok(got && !strncmp(got, "a1wA\na1wB\n", 10) && strstr(got, "\nc4zE\n") && !strstr(got, "extra") &&
       !strstr(got, "[seq"), "the last source varies fastest, linked ones together, seqs in order");
    free(got);
}

static void test_master_addr(void)
{
    static const struct { const char *in, *host; int port; const char *err; } m[] = {
        {"1.2.3.4:6000", "1.2.3.4", 6000, NULL},
        {"localhost:1", "localhost", 1, NULL},
        {"[::1]:6000", "::1", 6000, NULL},
        {"[fe80::1%lo]:7", "fe80::1%lo", 7, NULL},
        {"1.2.3.4", NULL, 0, "--master '1.2.3.4': expected HOST:PORT"},
        {"::1:6000", NULL, 0, "--master '::1:6000': an IPv6 address goes in brackets: [ADDRESS]:PORT"},
        {"[::1]6000", NULL, 0, "--master '[::1]6000': expected [ADDRESS]:PORT for an IPv6 address"},
        {"[::1", NULL, 0, "expected [ADDRESS]:PORT"},
        {":6000", NULL, 0, "--master ':6000': expected HOST:PORT (the host is empty)"},
        {"[]:6000", NULL, 0, "(the host is empty)"},
        {"h:", NULL, 0, "--master 'h:': expected HOST:PORT (the port is empty)"},
        {"h:0", NULL, 0, "--master 'h:0': the port is not a number from 1 to 65535"},
        {"h:65536", NULL, 0, "the port is not a number from 1 to 65535"},
        {"h:65535", "h", 65535, NULL},
        {"h:6x", NULL, 0, "the port is not a number"},
        {"h:-1", NULL, 0, "the port is not a number"},
        {"h:99999999999999999999", NULL, 0, "the port is not a number"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char *host = NULL, err[256] = "";
        int port = -1;
        int r = master_addr_parse("--master", m[i].in, &host, &port, err, sizeof err);
        if (m[i].host)
            ok(r == 0 && !strcmp(host, m[i].host) && port == m[i].port, "--master '%s': %s port %d", m[i].in,
               host ? host : "(none)", port);
        else
            ok(r < 0 && strstr(err, m[i].err) && !host, "--master '%s' refused: %s", m[i].in, err);
        free(host);
    }
    char *host = NULL, err[256];
    int port;
    master_addr_parse("$SMP_MASTER", "nope", &host, &port, err, sizeof err);
    ok(!strcmp(err, "$SMP_MASTER 'nope': expected HOST:PORT"), "the message names its source: %s", err);
}

int main(void)
{
    char dir[] = "/tmp/unit_template.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0)
        return 1;
    FILE *f = fopen("af1", "wb");
    fputs("p\nq r\n\n", f);
    fclose(f);
    f = fopen("af2", "wb");
    fputs("x.c\r\n/d/y.tar.gz", f); /* a '\r' kept, a last line without newline */
    fclose(f);
    test_table();
    test_quote();
    test_refused();
    test_many();
    test_master_addr();
    unlink("af1");
    unlink("af2");
    if (chdir("/") == 0)
        rmdir(dir);
    return done_testing();
}
