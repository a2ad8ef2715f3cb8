/* journal_dump.h - serveur_maitre --dump-journal: the journal as JSON lines. */
#ifndef JOURNAL_DUMP_H
#define JOURNAL_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* path: a state dir (its journal is read) or a journal file. Prints one
 * JSON object a line per record and per damaged range (doc/journal.md,
 * "Reading it"). Returns 0 if the journal is intact, 1 if damage was
 * reported, 2 if it cannot be read (said on stderr, naming the path). */
int journal_dump(const char *path, FILE *out);
/* The same over a journal in memory (the fuzz target's entry): 0 or 1. */
int journal_dump_bytes(const uint8_t *data, size_t len, FILE *out);

#endif
