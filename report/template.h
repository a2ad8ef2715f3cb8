/*
 * template.h - commands made from a template, as GNU parallel makes them:
 *
 *   client [options] COMMAND... ::: ARG... [::: ARG...] [:::: ARGFILE...]
 *
 * The input sources are combined as GNU parallel combines them (the cross
 * product, the last source varying fastest; :::+ and ::::+ link a source
 * to the one before it: they advance together, the shortest one sets the
 * length). The replacement strings are GNU parallel's {} {.} {/} {//}
 * {/.} {#} and {N} {N.} {N/} {N//} {N/.}; their values are shell-quoted
 * exactly as GNU parallel 20221122 quotes them. {%} is refused: see
 * template_parse. No replacement string in COMMAND: the arguments are
 * appended. No COMMAND: the arguments themselves are the command.
 *
 * The lines are made one at a time (template_next), so a large cross
 * product costs no memory; the k-th line made is job k ({#} = k), the
 * seq the client gives it. No I/O but reading the :::: files.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct {
    char **args;
    size_t nargs, cap;
    int linked; /* :::+ or ::::+: advances with the source before it */
} tmpl_source;

typedef struct {
    char *command;      /* the command words joined by spaces; NULL: none */
    int has_rpl;        /* it holds a replacement string: nothing is appended */
    int quote;          /* 0: one is in the first word, the values go as they are */
    tmpl_source *src;
    int nsrc;
    int *group_first;   /* sources [group_first[g], group_first[g + 1]) advance together */
    size_t *group_len;
    int ngroups;
    size_t *pick;       /* template_next: each group's argument */
    const char **argv;  /* template_next: each source's argument */
    uint64_t total, next; /* jobs in all; the next one's index (0-based) */
    char *line;
    size_t len, cap;
} template;

/* 1 if argv[from..argc) holds an input source separator (::: :::: :::+
 * ::::+): then the words are a template, not a command file. */
int template_present(int argc, char *const *argv, int from);

/* Parses words[0..n): COMMAND words, then the sources; reads the ::::
 * files ("-": standard input). 0, or -1 with what was wrong in err. */
int template_parse(template *t, int n, char *const *words, char *err, size_t errlen);

/* The next command line (NUL-terminated, len bytes; valid until the next
 * call): 1, or 0 when all are made. seq is its job number ({#}), from 1. */
int template_next(template *t, const char **line, size_t *len, uint32_t *seq);

/* The arguments of the job template_next made last, as they are (not
 * quoted), joined by spaces: what GNU parallel's --tag prefixes. A
 * malloc'd string (*len bytes), NULL out of memory. */
char *template_args(const template *t, size_t *len);

void template_free(template *t);

/* GNU parallel's quoting (shell_quote_scalar_default): unchanged if
 * every byte is one of -_.+/ a-z A-Z 0-9; '' if empty; else in '...',
 * each ' as '"'"', with the empty '' left at either end dropped.
 * Appends to the buffer (*buf, *len, *cap); -1 out of memory. */
int template_quote(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

/* --dry-run of a command file (path, "-": standard input): the commands
 * the client would send, one per line, on out (blank and '#' lines
 * skipped, as the client skips them); the lines it would refuse named on
 * stderr. 0, or -1 with what was wrong in err. */
int template_dry_run_file(FILE *out, const char *path, char *err, size_t errlen);

/* --dry-run: on f, the slaves that would take the commands (the master's
 * --status): names, state and slots, and the slots in all. */
void template_dry_run_slaves(FILE *f, const status_snapshot *s);

#endif
