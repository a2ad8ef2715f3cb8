/*
 * norandom.c - an LD_PRELOAD library for tests/norandom.t: a system with no
 * random source. getrandom fails (ENOSYS, as on a kernel without it) and
 * /dev/urandom cannot be opened; the programs must refuse to start rather
 * than make nonces and keys from anything guessable (doc/security.md 4.1).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
    (void)buf, (void)n, (void)flags;
    errno = ENOSYS;
    return -1;
}

FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (path && strcmp(path, "/dev/urandom") == 0) {
        errno = ENOENT;
        return NULL;
    }
    if (!real)
        real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    return real(path, mode);
}
