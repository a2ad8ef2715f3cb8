/*
 * syncgate.c - an LD_PRELOAD library for tests/early.t: holds the
 * master's fdatasync calls at a gate the test opens one by one, so that
 * the test can look at what the client has, and what has run, while a
 * flush is still on its way to the disk (and kill the master there).
 *
 *   SYNCGATE_DIR=D: while D/closed exists, call N of fdatasync writes
 *   D/entered-N (holding the file's size when the previous call on that
 *   descriptor returned: what a power cut could leave of it at most), then
 *   waits until D/pass-N appears or D/closed goes. Without D/closed a call
 *   passes at once.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned calls;
static long long durable_size[1024]; /* by descriptor: the size the last call made durable */

static int exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

int fdatasync(int fd)
{
    const char *dir = getenv("SYNCGATE_DIR");
    struct stat st;
    if (dir && exists(dir, "closed")) {
        unsigned n = ++calls;
        char path[4096], pass[64];
        snprintf(path, sizeof path, "%s/entered-%u.tmp", dir, n);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%lld\n", fd >= 0 && fd < 1024 ? durable_size[fd] : -1);
            fclose(f);
            char final[4096];
            snprintf(final, sizeof final, "%s/entered-%u", dir, n);
            rename(path, final); /* whole, for the test's reader */
        }
        snprintf(pass, sizeof pass, "pass-%u", n);
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        while (exists(dir, "closed") && !exists(dir, pass))
            nanosleep(&ten_ms, NULL);
    }
    int rc = (int)syscall(SYS_fdatasync, fd);
    if (rc == 0 && fd >= 0 && fd < 1024 && fstat(fd, &st) == 0)
        durable_size[fd] = (long long)st.st_size;
    return rc;
}
