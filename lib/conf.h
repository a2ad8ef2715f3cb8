/*
 * conf.h - the two text formats users write: slaves.conf and the command
 * file. Parsing only; no I/O, so the fuzz and unit tests drive them.
 */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>
#include <stdint.h>

/* slaves.conf: "host port [slots] [weight=W]" per line; '#' starts a
 * comment. W: how many times as fast as a weight-1 slave, from 0.001 to
 * 100, three decimals at most. */
#define WEIGHT_MAX_MILLI 100000
typedef struct {
    char host[256];
    int port;
    int slots; /* 0: as many as the slave reports */
    uint32_t weight_milli; /* W x1000; 1000 when not given */
    int line;
} slave_entry;

/* Parses one line (without its newline). Returns 1 and fills e for an
 * entry, 0 for a blank or comment line, -1 with a reason in why. */
int slaves_conf_line(const char *line, size_t len, int lineno, slave_entry *e, const char **why);

/* Command file: one command per line. */
enum cmd_line_kind {
    CMD_SKIP = 0,     /* blank (whitespace only) or starting with '#' */
    CMD_COMMAND = 1,  /* a command to run */
    CMD_HAS_NUL = 2,  /* holds a NUL byte: not run */
    CMD_TOO_LONG = 3, /* longer than MAX_COMMAND_LEN: not run */
};
/* Classifies a line without its newline (a trailing '\r' is dropped by the
 * caller). 'truncated' says the reader cut it at MAX_COMMAND_LEN. */
enum cmd_line_kind cmd_line_classify(const char *line, size_t len, int truncated);

/* Reads lines of at most MAX_COMMAND_LEN bytes from a byte stream fed in
 * chunks; longer lines are reported cut (the rest is skipped). */
typedef struct {
    char *buf;       /* MAX_COMMAND_LEN + 1 bytes */
    size_t len;      /* bytes of the current line so far */
    int overflow;    /* current line went past the limit */
    int returned;    /* the buffer holds a line already returned */
    uint32_t lineno; /* physical line number of the last line returned */
} line_reader;

int line_reader_init(line_reader *lr);
void line_reader_free(line_reader *lr);
/* Consumes bytes from data[*pos..n) until a line is complete; returns 1
 * with the line in (*line, *len, *truncated), 0 if more input is needed.
 * At end of input call with n == 0 and at_eof = 1 to get a last line
 * without a newline. */
int line_reader_next(line_reader *lr, const char *data, size_t n, size_t *pos, int at_eof, const char **line,
                     size_t *len, int *truncated);

/* A slave's policy (--allow FILE, doc/security.md section 5): one pattern
 * per line, '#' comments. A command line and a pattern are split into
 * words alike (policy_split); the command runs, without a shell, only if
 * its words match a pattern's word by word. */
typedef struct {
    char ***patterns; /* each policy_split's words */
    int count;
    char path[512];   /* the file, for the reasons */
    const char *option_leads; /* POLICY_OPTION_LEADS: this slave's */
} allow_list;

/* The first bytes of a program's options, which no wildcard matches at the
 * start of a word (doc/security.md 5.2): '-', '@' (gcc, javac, 7z... read
 * options from @FILE), '+' (head +N, sort +N, set +x); on Windows '/' too
 * (cmd /c, findstr /...). The slave's platform decides, not the client's. */
/* A policy file's size at most: it is read in the slave's loop (SIGHUP)
 * and every command is checked against each of its patterns. */
#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_OPTION_LEADS_POSIX "-@+"
#define POLICY_OPTION_LEADS_WINDOWS "-@+/"
#ifdef _WIN32
#define POLICY_OPTION_LEADS POLICY_OPTION_LEADS_WINDOWS
#else
#define POLICY_OPTION_LEADS POLICY_OPTION_LEADS_POSIX
#endif

/* Splits s[0..len) into words: blanks (space, tab) separate them; '...'
 * keeps everything literally; "..." too, except \" \\ \$ \` (and $ or `
 * in it is refused); a backslash outside quotes escapes the next byte.
 * Refused (-1, the reason in why, bytes counted from 1): unquoted
 * ; & | < > ( ) $ `, a word starting with # or ~, { } ! as words,
 * control characters (quoted or not; a tab is a blank unless quoted),
 * NUL included (allow_list_check), unterminated
 * quotes, a trailing backslash, NAME=... as the first word, no word at
 * all; unquoted * ? [ in a command (pattern 0). In a pattern (pattern 1)
 * those are wildcards, and literal ones are kept escaped with '\'; "**"
 * is only allowed as the last word. Else the count of words, *out a
 * NULL-terminated array in one allocation (free(*out)). */
int policy_split(const char *s, size_t len, int pattern, char ***out, char *why, size_t whylen);
/* Word i against pattern word i ('*' '?' '[...]' within the word), as many
 * words, except that a last pattern word "**" matches any number of them,
 * each as "*" would; a pattern word with a wildcard never matches a word
 * with a ".." path component, one starting with a wildcard never a word
 * starting with a byte of option_leads (POLICY_OPTION_LEADS). */
int policy_match(char *const *pattern, char *const *words, const char *option_leads);
/* What a pattern may not say once split: a program word of wildcards only
 * ("*", "**", "?*", "[a-z]*": every program). 0, or -1 and why. */
int policy_pattern_check(char *const *pattern, char *why, size_t whylen);
/* A pattern whose program runs another one named by its arguments (env,
 * nice, timeout, sudo, sh, python3, find ... -exec, cmd ...: exec_wrappers
 * in conf.c) with a word of wildcards only after it: it allows every
 * program. 0, or -1 and why (allow_list_load refuses the line unless it
 * begins with "!exec": doc/security.md 5.2). */
int policy_wrapper_check(char *const *pattern, char *why, size_t whylen);
/* 0; -1 the file cannot be read (or out of memory); -2 what it says is
 * refused (a pattern, a NUL byte, a line too long, no pattern): err names
 * the file and the line. */
int allow_list_load(allow_list *a, const char *path, char *err, size_t errlen);
void allow_list_free(allow_list *a);
/* 1 with the command's words in *argv (free it), or 0 with the reason. */
int allow_list_check(const allow_list *a, const char *command, size_t len, char ***argv, char *why, size_t whylen);
int allow_list_permits(const allow_list *a, const char *command);
/* Windows: words as one command line that the C runtime's parser
 * (CommandLineToArgvW's rules) splits back into them: the first word, the
 * program, in quotes (it must hold no '"'); a word with a blank or a '"',
 * or empty, in quotes, a '"' in it as \", backslashes before a '"' or
 * the closing quote doubled. malloc'd; NULL: out of memory. */
char *win_command_line(char *const *words);

#endif
