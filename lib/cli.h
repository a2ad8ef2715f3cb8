/* cli.h - small helpers shared by the three programs' option parsing. */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>

#include "simulate.h"

/* Parses a decimal number in [min, max]; dies naming the option if not. */
long cli_number(const char *option, const char *text, long min, long max);
/* Seconds, possibly fractional ("2.5"), to milliseconds in [0, max_ms]. */
uint32_t cli_seconds(const char *option, const char *text, uint32_t max_ms);
/* A duration: seconds (possibly fractional), or a number with a unit,
 * ms, s, m, h or d ("1.5h", "90s", "250ms"), to milliseconds in
 * [0, max_ms]; dies naming the option if not. */
uint64_t cli_duration(const char *option, const char *text, uint64_t max_ms);
/* Bytes with an optional K/M suffix (powers of 1024). */
uint32_t cli_bytes(const char *option, const char *text, uint32_t min, uint32_t max);
/* The same, 64 bits and K/M/G/T suffixes, from 0 to max. */
uint64_t cli_size(const char *option, const char *text, uint64_t max);
int cli_port(const char *text); /* 0-65535, or dies */

/* --simulate SPEC (simulate.h): parsed, or dies naming the bad part;
 * seeded at random when SPEC has no seed=. One per program (static). */
simulate *cli_simulate(const char *text, int master); /* master: 1 in serveur_maitre */
/* The warning at start, once the log says who we are. */
void cli_simulate_warn(const simulate *s);

/* Safe default: a daemon listening beyond loopback must have a key,
 * unless --insecure says otherwise (then it warns at every start). */
void cli_check_bind(const char *bind, int keyed, int insecure);

#endif
