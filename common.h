/*
 * common.h - what the three programs share: limits, defaults and the
 * in-memory types of the lab report (CommandRequest, CommandResult).
 *
 * These structs are never sent as they are: proto.c encodes them field by
 * field in network byte order (doc/protocol.md).
 */
#ifndef COMMON_H
#define COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SMP_VERSION_STRING "1.0.0"

/* Defaults of the command line (README.md, "Command-line reference"). */
#define DEFAULT_MASTER_PORT 6000
#define DEFAULT_BIND_ADDR "127.0.0.1"
#define DEFAULT_CONNECT_SECONDS 10 /* client: give up reaching the master */

/* A command line of the command file, without its newline. Linux refuses
 * a single argv string of 128 KiB or more (MAX_ARG_STRLEN), so 64 KiB keeps
 * us well inside what /bin/sh -c accepts everywhere. */
#define MAX_COMMAND_LEN 65536

/* Where a batch's commands run (client --wd DIR, --env NAME): carried by
 * OPTIONS and by each job request's tail. Together, with 3 bytes of
 * header each, they take at most MAX_PLACE_BYTES, and the command line
 * of a job with them at most MAX_COMMAND_LEN less that: an older slave
 * still reassembles the request (and refuses it by name). */
#define MAX_WD_LEN 4096
#define MAX_ENV_VARS 64
#define MAX_ENV_ENTRY 4096 /* NAME=VALUE */
#define MAX_PLACE_BYTES 32768
#define JOBX_MAX (MAX_ENV_VARS + 8) /* extensions of one job request */
/* A job request's body a slave reassembles at most (every slave so far) */
#define JOB_BODY_MAX (MAX_COMMAND_LEN + 16u)

/* Per stream (stdout, stderr) output a slave keeps for one command; the
 * rest is read and thrown away and the result is marked truncated. */
#define DEFAULT_OUTPUT_CAP (4u * 1024 * 1024)
#define MAX_OUTPUT_CAP (32u * 1024 * 1024)

/* Payload bytes of one master<->slave datagram fragment: 1200 between
 * machines (QUIC's minimum path MTU payload; crosses any LAN unfragmented),
 * 60000 on loopback, where a datagram costs about the same whatever its
 * size up to 64 KiB (measured on a 2-core machine: 1400-byte datagrams move
 * ~400 MB/s, 60 KB ones ~5 GB/s). The sender chooses; every
 * fragment says which size it uses. */
#define FRAG_PAYLOAD 1200
#define FRAG_LOOPBACK 60000
#define FRAG_MAX 60000

/* How a command ended, as the client sees it. */
enum run_status {
    RUN_EXITED = 0,    /* ran; exit_code is meaningful */
    RUN_SIGNALED = 1,  /* killed by signal term_signal */
    RUN_NOT_STARTED = 2, /* could not be started, or its result was unusable (message says why) */
    RUN_REJECTED = 3,  /* not run: bad line in the command file */
    RUN_TIMED_OUT = 4, /* killed after the client's (or the slave's) --timeout */
    RUN_NO_SLAVE = 5,  /* no slave could take it (message says why) */
    RUN_CANCELLED = 6, /* the master shut down before it ran or finished */
};

/* An extension of a job request (enum jobx_key, proto.h): its value is
 * len bytes, not NUL-terminated (decoded: pointing into the datagram). */
typedef struct {
    uint8_t key;
    uint16_t len;
    const char *value;
} job_ext;

/* What the client asks for: one command of the command file. */
typedef struct CommandRequest {
    uint32_t seq;        /* 1-based index among the file's command lines */
    uint32_t timeout_ms; /* 0: none */
    uint32_t length;     /* bytes in command, no terminating NUL counted */
    char *command;       /* length bytes; decoded ones point into a datagram, no NUL */
    uint8_t next;        /* extensions after the command (the tail): 0 none, the request as before them */
    job_ext ext[JOBX_MAX];
    uint8_t unknown_ext; /* decoded: the first key this side does not know (0: none) */
} CommandRequest;

/* What comes back for one command. */
typedef struct CommandResult {
    uint32_t seq;
    uint8_t status;          /* enum run_status */
    int32_t exit_code;       /* RUN_EXITED: 0..255 */
    uint8_t term_signal;     /* RUN_SIGNALED / RUN_TIMED_OUT: signal number */
    uint8_t stdout_truncated;
    uint8_t stderr_truncated;
    uint8_t ran_twice;       /* the master dispatched it more than once: it may have run twice */
    uint8_t cached;          /* from the master's cache (client --cache): it did not run now */
    uint64_t start_ms;       /* wall clock, ms since the epoch, at start */
    uint64_t duration_us;
    char host[272];          /* "host:port" of the slave, as in slaves.conf */
    uint32_t stdout_len, stderr_len, message_len;
    char *stdout_data, *stderr_data, *message; /* message: why, if not run */
} CommandResult;

void command_result_free(CommandResult *r); /* for results that own their fields */

/* A command counts as failed unless it exited with status 0. */
static inline int command_result_failed(const CommandResult *r)
{
    return !(r->status == RUN_EXITED && r->exit_code == 0);
}

#endif
