/*
 * state.c - the master's state dir: where it is (--state-dir, or a
 * default per TCP port), its lock (one master per dir), and the master's
 * persistent identity (DIR/identity), which its slaves see in every PING:
 * the same identity with a new boot id is "the same master, restarted",
 * whose jobs they keep for --master-grace and hand to the new life.
 *
 *   DIR/lock      an exclusive lock held for the master's life (our pid in it)
 *   DIR/identity  16 lowercase hex digits and a newline, 64 random bits, never 0
 *   DIR/journal   the journal (journal.c)
 *
 * Every failure here is a start-up error naming the path: the caller
 * exits 1.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define IDENTITY_TEXT_LEN 17 /* 16 hex digits, '\n' */

/* "%016llx\n" read back: 0 (not an identity) unless exactly that. */
static uint64_t identity_parse(const char *text, long n)
{
    uint64_t v = 0;
    if (n != IDENTITY_TEXT_LEN || text[16] != '\n')
        return 0;
    for (int i = 0; i < 16; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    return v;
}

/* Reads DIR/identity, or creates it (atomically: a crash leaves either no
 * file or a whole one). 0, or -1 logged. */
static int identity_load(master *m)
{
    char path[STATE_PATH_MAX + 16], text[IDENTITY_TEXT_LEN + 1], err[STATE_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s%cidentity", m->state_dir, PATH_SEP);
    long n = file_read_small(path, text, sizeof text, err, sizeof err);
    if (n == -2) {
        uint64_t id = boot_id_new(); /* 64 random bits, never 0 */
        snprintf(text, sizeof text, "%016llx\n", (unsigned long long)id);
        if (file_write_atomic(path, text, IDENTITY_TEXT_LEN, err, sizeof err) < 0) {
            LOG(LOG_ERROR, "state dir %s: %s", m->state_dir, err);
            return -1;
        }
        m->identity = id;
        m->identity_created = 1;
        LOG(LOG_INFO, "state dir %s: new identity %016llx", m->state_dir, (unsigned long long)id);
        return 0;
    }
    if (n < 0) {
        LOG(LOG_ERROR, "state dir %s: %s", m->state_dir, err);
        return -1;
    }
    m->identity = identity_parse(text, n);
    if (!m->identity) {
        LOG(LOG_ERROR, "bad identity file %s: expected 16 lowercase hex digits (not all 0) and a newline; "
            "remove it to give this state dir a new identity (its slaves will not recognise the master)", path);
        return -1;
    }
    return 0;
}

/* The journal is the authority on what this master was given: a new
 * journal (none yet, or the old one unreadable) gets a new identity, so
 * that no slave hands it jobs of a life it knows nothing of; a replayed
 * one keeps the identity in its header. 0, or -1 logged. */
int state_set_identity(master *m, uint64_t id)
{
    char path[STATE_PATH_MAX + 16], text[IDENTITY_TEXT_LEN + 1], err[STATE_PATH_MAX + 300];
    if (id == m->identity)
        return 0;
    snprintf(path, sizeof path, "%s%cidentity", m->state_dir, PATH_SEP);
    snprintf(text, sizeof text, "%016llx\n", (unsigned long long)id);
    if (file_write_atomic(path, text, IDENTITY_TEXT_LEN, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "state dir %s: %s", m->state_dir, err);
        return -1;
    }
    LOG(LOG_INFO, "state dir %s: identity %016llx (was %016llx)", m->state_dir, (unsigned long long)id,
        (unsigned long long)m->identity);
    m->identity = id;
    return 0;
}

int state_open(master *m, int port)
{
    const char *dir = m->cfg->state_dir;
    char err[STATE_PATH_MAX + 300], home[STATE_PATH_MAX];
    m->identity = 0;
    m->state_dir[0] = 0;
    if (!dir) {
        LOG(LOG_INFO, "state dir: none (--ephemeral)");
        return 0;
    }
    int n;
    if (!dir[0]) { /* the default: one per port, so two masters never share one */
        if (state_home(home, sizeof home, err, sizeof err) < 0) {
            LOG(LOG_ERROR, "no default state dir: %s", err);
            return -1;
        }
        n = snprintf(m->state_dir, sizeof m->state_dir, "%s%cserveur_maitre%cport-%d", home, PATH_SEP, PATH_SEP,
                     port);
    } else {
        n = snprintf(m->state_dir, sizeof m->state_dir, "%s", dir);
    }
    if (n < 0 || (size_t)n >= sizeof m->state_dir) {
        LOG(LOG_ERROR, "state dir path too long (at most %d bytes): %s", STATE_PATH_MAX - 1, dir[0] ? dir : home);
        m->state_dir[0] = 0;
        return -1;
    }
    if (dir_create(m->state_dir, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "state dir %s: %s", m->state_dir, err);
        return -1;
    }
    char lock[STATE_PATH_MAX + 16];
    long holder;
    snprintf(lock, sizeof lock, "%s%clock", m->state_dir, PATH_SEP);
    int r = file_lock_hold(lock, &holder, err, sizeof err);
    if (r < 0) {
        LOG(LOG_ERROR, "state dir %s: %s", m->state_dir, err);
        return -1;
    }
    if (r > 0) {
        if (holder > 0)
            LOG(LOG_ERROR, "state dir %s is in use by another master (pid %ld holds %s)", m->state_dir, holder, lock);
        else
            LOG(LOG_ERROR, "state dir %s is in use by another master (it holds %s)", m->state_dir, lock);
        return -1;
    }
    if (identity_load(m) < 0)
        return -1;
    LOG(LOG_INFO, "state dir: %s (identity %016llx)", m->state_dir, (unsigned long long)m->identity);
    return 0;
}
