/*
 * platform.h - the one interface to the operating system's sockets, clocks
 * and polling (ENet's unix.c / win32.c split). platform_posix.c implements
 * it for Linux and other POSIX systems, platform_win32.c for Windows (each
 * file's whole body is under #ifdef, so every build lists both); callers
 * never see errno or WSAGetLastError() values.
 */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef _WIN32
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: job objects, nested jobs need 8 */
#endif
/* select() watches at most FD_SETSIZE sockets, 64 unless raised before
 * winsock2.h; net_poll fails with a clear error beyond it. */
#ifndef FD_SETSIZE
#define FD_SETSIZE 1024
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET sock_t;
#define SOCK_INVALID INVALID_SOCKET
#else
#include <netinet/in.h>
#include <sys/socket.h>
typedef int sock_t;
#define SOCK_INVALID (-1)
#endif

/* A resolved socket address. */
typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
} net_addr;

/* Results of the non-blocking I/O calls besides a byte count. */
#define NET_AGAIN (-2) /* would block: try again when poll says so */
#define NET_ERROR (-1) /* the connection or socket failed; see net_last_error() */

/* poll() events, the same on every platform. */
#define NET_IN 1
#define NET_OUT 2
#define NET_HUP 4 /* error or hang-up: the next read or write says which */

typedef struct {
    sock_t fd;
    short events;
    short revents;
} net_pollfd;

/* Once, first: on Windows starts Winsock and puts stdin, stdout and stderr
 * in binary mode, so commands' output passes byte for byte as on POSIX. */
int plat_init(char *err, size_t errlen);

/* Each returns SOCK_INVALID and writes why into err on failure. */
sock_t net_udp_bind(const char *host, int port, char *err, size_t errlen);
/* The same, for the address's family only (an IPv6 one gets no IPv4). */
sock_t net_udp_bind_only(const char *host, int port, char *err, size_t errlen);
sock_t net_tcp_listen(const char *host, int port, char *err, size_t errlen);
sock_t net_tcp_connect(const net_addr *to, char *err, size_t errlen); /* non-blocking */
sock_t net_tcp_accept(sock_t listener, net_addr *peer);
/* After a non-blocking connect became writable: 0 connected, -1 failed. */
int net_connect_result(sock_t s, char *err, size_t errlen);

/* Resolve host:port (numeric or by name) for UDP (dgram=1) or TCP
 * (netaddr.c, the same code on every platform but for these two: a
 * getaddrinfo() failure in words, and which address comes first). */
int net_resolve(const char *host, int port, int dgram, net_addr *out, char *err, size_t errlen);
void net_resolve_error(int code, char *buf, size_t len);
#ifdef _WIN32
/* Windows lists ::1 first for "localhost", where the daemons listen on
 * 127.0.0.1 by default: an IPv4 address when there is one. */
#define NET_RESOLVE_PREFER_IPV4 1
#else
#define NET_RESOLVE_PREFER_IPV4 0 /* the system's order (RFC 6724) */
#endif
int net_local_port(sock_t s);
/* "host:port" of an address (numeric). */
void net_addr_str(const net_addr *a, char *buf, size_t len);
int net_addr_equal(const net_addr *a, const net_addr *b); /* ::ffff:a.b.c.d equals a.b.c.d */
void net_addr_unmap(net_addr *a); /* an IPv4-mapped IPv6 address becomes the IPv4 one */
/* The loopback or wildcard address of the other family ("::1" for
 * 127.0.0.1, "0.0.0.0" for "::"...), NULL for any other address. */
const char *net_addr_other_family(const net_addr *a);
int net_addr_is_loopback(const net_addr *a); /* 127.0.0.0/8 or ::1 */

long net_send(sock_t s, const void *p, size_t n);
long net_recv(sock_t s, void *p, size_t n);
long net_sendto(sock_t s, const void *p, size_t n, const net_addr *to);
long net_recvfrom(sock_t s, void *p, size_t n, net_addr *from);
void net_close(sock_t s);
void net_shutdown_write(sock_t s); /* send FIN, keep reading */
const char *net_last_error(void);

/* Waits up to timeout_ms (-1: forever); returns the number of ready
 * entries, 0 on timeout or on an interrupting signal, -1 on error (more
 * than NET_POLL_MAX descriptors is one). */
int net_poll(net_pollfd *fds, int n, int timeout_ms);
#ifdef _WIN32
#define NET_POLL_MAX FD_SETSIZE
#else
#define NET_POLL_MAX 1000000
#endif

/* Signals arrive as events on a descriptor the event loop polls (the
 * self-pipe trick), so no work is done inside a signal handler. Windows:
 * a loopback UDP socket pair; Ctrl-C, Ctrl-Break and closing the console
 * window are SIGNAL_STOP; there is no SIGHUP, so no SIGNAL_RELOAD. */
enum signal_event {
    SIGNAL_NONE = 0,
    SIGNAL_STOP = 1,   /* SIGTERM, SIGINT: shut down cleanly */
    SIGNAL_RELOAD = 2, /* SIGHUP */
    SIGNAL_CHILD = 3,  /* a command's process exited: runner_reap() (POSIX: SIGCHLD;
                          Windows: posted by the runner, also when its output ends) */
    SIGNAL_STATUS = 4,  /* SIGUSR1: the master logs its status (POSIX only) */
    SIGNAL_VERBOSE = 5, /* SIGUSR2: the master toggles verbose logging (POSIX only) */
    SIGNAL_HANGUP = 6,  /* SIGHUP because the terminal it was started on has closed (POSIX only):
                           the daemon stops, as a program whose window is closed (not a reload) */
};
sock_t signal_events_init(void); /* the descriptor to poll for NET_IN */
int signal_events_take(void);    /* the next pending event, or SIGNAL_NONE */
/* Queues an event from any thread (the Windows runner's threads); a
 * no-op before signal_events_init(). */
void signal_events_post(int ev);
/* The exit status for a program that stops on the last SIGNAL_STOP or
 * SIGNAL_RELOAD, as a shell reports death by that signal: 128 + its
 * number (SIGINT 130, SIGTERM 143, SIGHUP 129); Windows: 130 for Ctrl-C
 * and Ctrl-Break, 143 for closing the console, logoff and shutdown. */
int signal_stop_status(void);

/* The client's command file, or standard input for "-", as a descriptor
 * net_poll can wait on for NET_IN: on POSIX the file's own descriptor; on
 * Windows, where select() takes only sockets, a loopback socket that a
 * reader thread fills. input_open returns SOCK_INVALID and writes why into
 * err; input_read returns a byte count, 0 at the end, NET_AGAIN or
 * NET_ERROR (why: net_last_error()). */
sock_t input_open(const char *path, char *err, size_t errlen);
long input_read(sock_t in, void *buf, size_t n);
void input_close(sock_t in);

/* The journal's file (master/journal.c): opened for reading and for
 * appending (created 0600; binary on Windows), written at its end, synced
 * to stable storage (fdatasync; Windows _commit), read at an offset, cut.
 * Each returns -1 on error, errno set. */
int file_open_append(const char *path);
long file_write(int fd, const void *p, size_t n);
int file_sync(int fd);
long file_read_at(int fd, void *p, size_t n, uint64_t offset);
int file_truncate(int fd, uint64_t size);
int64_t file_size(int fd);
void file_close(int fd);
/* A whole file, read once from start to end (the journal's replay): mapped
 * where the system can, else read into memory. file_view_done says the
 * bytes before upto are not needed again: their pages are dropped, so a
 * large journal is replayed in little memory. 0, or -1 (errno set). */
typedef struct {
    const uint8_t *data;
    size_t len, dropped;
    int mapped;
} file_view;
int file_view_open(int fd, size_t len, file_view *v);
void file_view_done(file_view *v, size_t upto);
void file_view_close(file_view *v);

uint64_t clock_ms(void);  /* monotonic */
/* now - then, or 0 if then is later (a timestamp taken after now). */
static inline uint64_t elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }
uint64_t clock_us(void);  /* monotonic */
uint64_t wall_ms(void);   /* milliseconds since the epoch */
uint64_t wall_us(void);   /* microseconds since the epoch (--trace) */
/* Milliseconds since the machine booted, suspend included, immune to
 * wall-clock steps (Linux CLOCK_BOOTTIME, Windows GetTickCount64), and
 * that boot's identity (Linux: the first 64 bits of
 * /proc/sys/kernel/random/boot_id; Windows: the boot's wall-clock time in
 * minutes, an approximation), 0 if unknown: only two readings of the same
 * boot id can be subtracted (the journal's QUEUED records, --deadline). */
uint64_t boot_ms(void);
uint64_t plat_boot_id(void);
/* n random bytes for boot ids, nonces, keys: getrandom or /dev/urandom,
 * Windows RtlGenRandom (rand_s). 0, or -1 if there is no such source:
 * callers die then (auth_random), never fall back to a clock. */
int plat_random(void *out, size_t n);
int cpu_count(void);
/* The machine's load, as a slave reports it in its PONG (doc/protocol.md
 * 4.1): the 1-minute load average x1000 (Windows: the CPU busy fraction
 * times the CPUs, averaged over about a minute), the online CPUs, the
 * available memory in bytes (Linux: MemAvailable, else sysinfo's free;
 * Windows: ullAvailPhys). What cannot be read is MACHINE_LOAD_UNKNOWN /
 * 0 CPUs / MACHINE_MEM_UNKNOWN. loadavg_path and meminfo_path (NULL: the
 * system's /proc/loadavg and /proc/meminfo) are files in those formats;
 * Windows reads them too when given. Reads files: call it at most once a
 * second or so. */
#define MACHINE_LOAD_UNKNOWN UINT32_MAX
#define MACHINE_MEM_UNKNOWN UINT64_MAX
typedef struct {
    uint32_t load_milli;
    uint16_t cpus;
    uint64_t mem_avail;
} machine_load;
void plat_machine_load(machine_load *l, const char *loadavg_path, const char *meminfo_path);
/* The parsers of those formats, on a file's bytes (NUL-terminated): the
 * first field of /proc/loadavg x1000; MemAvailable (else MemFree) of
 * /proc/meminfo in bytes. Unknown values as above. */
uint32_t loadavg_parse(const char *text);
uint64_t meminfo_parse(const char *text);
/* Standard input, output and error closed at start (prog 2>&-) opened
 * on /dev/null, first thing in main: else the next file or socket opened
 * takes the number, and what goes to stderr lands in it (the client's
 * joblog, the slave's cgroup.procs, the master's lock file). */
void plat_std_streams_open(void);
/* A daemon's write to standard output (stream 1: the console view) or
 * standard error (2: its log), never blocking: a terminal frozen
 * (Ctrl-S), a pipe nobody reads must not stop a daemon. 1 written (whole,
 * or the part that fitted), 0 nothing fitted: the caller drops it.
 * Windows: a pipe's or a console's line is queued whole for a writer
 * thread, or dropped. */
int plat_write_nowait(int stream, const void *p, size_t n);
/* The process's working directory (serveur_esclave --chdir): 0, or -1
 * with "what DIR: why" in err. */
int plat_chdir(const char *dir, char *err, size_t errlen);
int plat_cwd(char *buf, size_t n);

/* Files of the master's state dir (master/state.c). Each returns 0, or -1
 * with "what: why" (naming the path) in err. */
#ifdef _WIN32
#define PATH_SEP '\\'
#else
#define PATH_SEP '/'
#endif
/* Where a user's program state goes: POSIX $XDG_STATE_HOME (if absolute),
 * else $HOME/.local/state; Windows %LOCALAPPDATA%. */
int state_home(char *buf, size_t len, char *err, size_t errlen);
/* mkdir -p; the directories it creates are private to the user (0700). */
int dir_create(const char *path, char *err, size_t errlen);
/* An exclusive lock on path (created if needed), held until the process
 * ends (POSIX fcntl, Windows LockFileEx); our pid is written into it.
 * 1 when another process holds it: *holder is its pid (0 if unknown). */
int file_lock_hold(const char *path, long *holder, char *err, size_t errlen);
/* Reads up to cap bytes of a small file: the count; -2 (err set) when it
 * does not exist. */
long file_read_small(const char *path, void *buf, size_t cap, char *err, size_t errlen);
/* A configuration file (the slave's --allow, at start and on SIGHUP)
 * opened for reading: a regular file only, never waiting in open for a
 * FIFO's writer nor reading a device without end; NULL with err set
 * ("cannot read WHAT 'PATH': ...") otherwise. */
FILE *file_open_regular(const char *path, const char *what, char *err, size_t errlen);
/* Creates or replaces path atomically and durably: written to path.tmp,
 * flushed to disk, renamed, and the directory flushed (POSIX). */
int file_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen);
/* Flushes the directory that holds path, so that a file created or
 * renamed there survives a power cut (POSIX; Windows: nothing to do).
 * dir receives the directory's name, for a message. */
int dir_sync_of(const char *path, char *dir, size_t dirlen);

#endif
