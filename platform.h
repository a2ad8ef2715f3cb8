/*
 * platform.h - the one interface to the operating system's sockets, clocks
 * and polling (ENet's unix.c / win32.c split). platform_posix.c implements
 * it for Linux and other POSIX systems; callers never see errno values.
 */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
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

int plat_init(char *err, size_t errlen);

/* Each returns SOCK_INVALID and writes why into err on failure. */
sock_t net_udp_bind(const char *host, int port, char *err, size_t errlen);
sock_t net_tcp_listen(const char *host, int port, char *err, size_t errlen);
sock_t net_tcp_connect(const net_addr *to, char *err, size_t errlen); /* non-blocking */
sock_t net_tcp_accept(sock_t listener, net_addr *peer);
/* After a non-blocking connect became writable: 0 connected, -1 failed. */
int net_connect_result(sock_t s, char *err, size_t errlen);

/* Resolve host:port (numeric or by name) for UDP (dgram=1) or TCP. */
int net_resolve(const char *host, int port, int dgram, net_addr *out, char *err, size_t errlen);
int net_local_port(sock_t s);
/* "host:port" of an address (numeric). */
void net_addr_str(const net_addr *a, char *buf, size_t len);
int net_addr_equal(const net_addr *a, const net_addr *b);

long net_send(sock_t s, const void *p, size_t n);
long net_recv(sock_t s, void *p, size_t n);
long net_sendto(sock_t s, const void *p, size_t n, const net_addr *to);
long net_recvfrom(sock_t s, void *p, size_t n, net_addr *from);
void net_close(sock_t s);
void net_shutdown_write(sock_t s); /* send FIN, keep reading */
const char *net_last_error(void);

/* Waits up to timeout_ms (-1: forever); returns the number of ready
 * entries, 0 on timeout or on an interrupting signal, -1 on error. */
int net_poll(net_pollfd *fds, int n, int timeout_ms);

/* Signals arrive as events on a descriptor the event loop polls (the
 * self-pipe trick), so no work is done inside a signal handler. */
enum signal_event {
    SIGNAL_NONE = 0,
    SIGNAL_STOP = 1,   /* SIGTERM, SIGINT: shut down cleanly */
    SIGNAL_RELOAD = 2, /* SIGHUP */
    SIGNAL_CHILD = 3,  /* SIGCHLD: a command's process exited */
};
sock_t signal_events_init(void); /* the descriptor to poll for NET_IN */
int signal_events_take(void);    /* the next pending event, or SIGNAL_NONE */

uint64_t clock_ms(void);  /* monotonic */
/* now - then, or 0 if then is later (a timestamp taken after now). */
static inline uint64_t elapsed(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }
uint64_t clock_us(void);  /* monotonic */
uint64_t wall_ms(void);   /* milliseconds since the epoch */
uint32_t random_u32(void); /* for boot ids; not cryptographic */
int cpu_count(void);

#endif
