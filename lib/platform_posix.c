/* platform_posix.c - platform.h for POSIX systems. */
#ifndef _WIN32
#define _GNU_SOURCE
#include "platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#include <sys/sysinfo.h>
#endif

/* Datagrams arrive in bursts (a window of result fragments): a large
 * receive buffer avoids losses on loopback (measured: a burst of 1400-byte
 * datagrams lost 1.4% with Linux's default 208 KiB, none with 8 MiB). */
#define UDP_BUFFER_BYTES (8 * 1024 * 1024)

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int plat_init(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* A peer closing a socket must not kill us: writes report EPIPE. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void net_resolve_error(int code, char *buf, size_t len)
{
    snprintf(buf, len, "%s", gai_strerror(code));
}

/* only_family: an IPv6 socket gets no IPv4 traffic (IPV6_V6ONLY), so that
 * one of each family can share a port number. */
static int bound_socket(const char *host, int port, int dgram, int only_family, char *err, size_t errlen)
{
    net_addr a;
    if (net_resolve(host, port, dgram, &a, err, errlen) < 0)
        return -1;
    int fd = socket(a.ss.ss_family, dgram ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (!dgram)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (only_family && a.ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        snprintf(err, errlen, "bind %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    if (set_nonblocking(fd) < 0) {
        snprintf(err, errlen, "fcntl: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static sock_t udp_socket(const char *host, int port, int only_family, char *err, size_t errlen)
{
    int fd = bound_socket(host, port, 1, only_family, err, errlen);
    if (fd < 0)
        return SOCK_INVALID;
    int size = UDP_BUFFER_BYTES;
    /* Best effort: the kernel caps these at net.core.[rw]mem_max unless
     * we are root (SO_RCVBUFFORCE). */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    return fd;
}

sock_t net_udp_bind(const char *host, int port, char *err, size_t errlen)
{
    return udp_socket(host, port, 0, err, errlen);
}

sock_t net_udp_bind_only(const char *host, int port, char *err, size_t errlen)
{
    return udp_socket(host, port, 1, err, errlen);
}

sock_t net_tcp_listen(const char *host, int port, char *err, size_t errlen)
{
    int fd = bound_socket(host, port, 0, 0, err, errlen);
    if (fd < 0)
        return SOCK_INVALID;
    if (listen(fd, 128) < 0) {
        snprintf(err, errlen, "listen: %s", strerror(errno));
        close(fd);
        return SOCK_INVALID;
    }
    return fd;
}

/* A connection cut without a word (a cable, a dead machine, a firewall
 * that drops) is noticed in about 11 s while nothing waits to be sent
 * (keepalive: 5 s, then a probe every 2 s, 3 unanswered): the client
 * reconnects, the master orphans the batch. No TCP_USER_TIMEOUT: on Linux
 * it also ends a connection whose peer does not read (a paused pager,
 * a master whose queue is full) after that time. */
static void tcp_liveness(int fd)
{
    int one = 1, idle = 5, intvl = 2, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
    (void)idle, (void)intvl, (void)cnt;
}

sock_t net_tcp_accept(sock_t listener, net_addr *peer)
{
    peer->len = sizeof peer->ss;
    int fd = accept(listener, (struct sockaddr *)&peer->ss, &peer->len);
    if (fd < 0)
        return SOCK_INVALID;
    tcp_liveness(fd);
    if (set_nonblocking(fd) < 0) {
        close(fd);
        return SOCK_INVALID;
    }
    return fd;
}

sock_t net_tcp_connect(const net_addr *to, char *err, size_t errlen)
{
    int fd = socket(to->ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return SOCK_INVALID;
    }
    tcp_liveness(fd);
    if (set_nonblocking(fd) < 0 ||
        (connect(fd, (const struct sockaddr *)&to->ss, to->len) < 0 && errno != EINPROGRESS)) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return SOCK_INVALID;
    }
    return fd;
}

int net_connect_result(sock_t s, char *err, size_t errlen)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        snprintf(err, errlen, "%s", strerror(soerr));
        return -1;
    }
    /* Aimed at a free port of the ephemeral range, the socket can be given
     * that very port and meet itself (TCP simultaneous open): nobody is
     * listening there, so that is a refusal. */
    net_addr self, peer;
    self.len = peer.len = sizeof self.ss;
    if (getsockname(s, (struct sockaddr *)&self.ss, &self.len) == 0 &&
        getpeername(s, (struct sockaddr *)&peer.ss, &peer.len) == 0 && net_addr_equal(&self, &peer)) {
        snprintf(err, errlen, "%s (the connection met itself: nothing listens there)", strerror(ECONNREFUSED));
        return -1;
    }
    return 0;
}

int net_local_port(sock_t s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static long io_result(long n)
{
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return NET_AGAIN;
    return NET_ERROR;
}

long net_send(sock_t s, const void *p, size_t n)
{
    return io_result(send(s, p, n, MSG_NOSIGNAL));
}

long net_recv(sock_t s, void *p, size_t n)
{
    return io_result(recv(s, p, n, 0));
}

long net_sendto(sock_t s, const void *p, size_t n, const net_addr *to)
{
    long r = io_result(sendto(s, p, n, 0, (const struct sockaddr *)&to->ss, to->len));
    /* An ICMP error from an earlier datagram (peer not up yet) is not a
     * failure of this socket: the retransmission timer copes. */
    if (r == NET_ERROR && (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH))
        return NET_AGAIN;
    return r;
}

long net_recvfrom(sock_t s, void *p, size_t n, net_addr *from)
{
    from->len = sizeof from->ss;
    long r = recvfrom(s, p, n, 0, (struct sockaddr *)&from->ss, &from->len);
    if (r < 0 && (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH))
        return NET_AGAIN;
    return io_result(r);
}

void net_close(sock_t s)
{
    if (s != SOCK_INVALID)
        close(s);
}

void net_shutdown_write(sock_t s)
{
    shutdown(s, SHUT_WR);
}

const char *net_last_error(void)
{
    return strerror(errno);
}

int net_poll(net_pollfd *fds, int n, int timeout_ms)
{
    struct pollfd pfd[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) {
        pfd[i].fd = fds[i].fd;
        pfd[i].events = (short)((fds[i].events & NET_IN ? POLLIN : 0) | (fds[i].events & NET_OUT ? POLLOUT : 0));
        pfd[i].revents = 0;
    }
    int r = poll(pfd, (nfds_t)n, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        short re = pfd[i].revents;
        fds[i].revents = (short)((re & POLLIN ? NET_IN : 0) | (re & POLLOUT ? NET_OUT : 0) |
                                 (re & (POLLERR | POLLHUP | POLLNVAL) ? NET_HUP : 0));
    }
    return r;
}

static int sig_pipe[2] = {-1, -1};
static int tty_fds; /* bit i: descriptor i (0 to 2) was a terminal at start */
static volatile sig_atomic_t last_stop_signal = SIGTERM;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD && sig != SIGUSR1 && sig != SIGUSR2)
        last_stop_signal = sig;
    char ev = sig == SIGCHLD ? SIGNAL_CHILD : sig == SIGHUP ? SIGNAL_RELOAD : sig == SIGUSR1 ? SIGNAL_STATUS
            : sig == SIGUSR2 ? SIGNAL_VERBOSE : SIGNAL_STOP;
    if (write(sig_pipe[1], &ev, 1) < 0) { /* pipe full: events are already pending */
    }
    errno = saved;
}

sock_t signal_events_init(void)
{
    if (sig_pipe[0] >= 0)
        return sig_pipe[0];
    if (pipe(sig_pipe) < 0)
        return SOCK_INVALID;
    set_nonblocking(sig_pipe[0]);
    set_nonblocking(sig_pipe[1]);
    for (int fd = 0; fd <= 2; fd++)
        if (isatty(fd))
            tty_fds |= 1 << fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* SIGCHLD also when a child stops: the slave kills a stopped command */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* the master: log the status; the others ignore the event */
    sigaction(SIGUSR2, &sa, NULL); /* the master: toggle verbose logging */
    return sig_pipe[0];
}

void signal_events_post(int ev)
{
    char c = (char)ev;
    if (sig_pipe[1] >= 0 && write(sig_pipe[1], &c, 1) < 0) { /* full: events are already pending */
    }
}

int signal_stop_status(void)
{
    return 128 + last_stop_signal;
}

/* A SIGHUP is a reload (kill -HUP), or the terminal the daemon runs in
 * was closed: the kernel hung it up, and every descriptor on it now
 * fails (EIO). Closing the window must stop it, not leave it serving on
 * with nowhere to print, its port taken. */
static int terminal_hung_up(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct termios t;
        if ((tty_fds & 1 << fd) && tcgetattr(fd, &t) < 0 && errno == EIO)
            return 1;
    }
    return 0;
}

int signal_events_take(void)
{
    char ev;
    if (sig_pipe[0] < 0 || read(sig_pipe[0], &ev, 1) != 1)
        return SIGNAL_NONE;
    if (ev == SIGNAL_RELOAD && terminal_hung_up()) {
        last_stop_signal = SIGHUP;
        return SIGNAL_HANGUP;
    }
    return ev;
}

sock_t input_open(const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        snprintf(err, errlen, "%s", strerror(errno));
    return fd < 0 ? SOCK_INVALID : fd;
}

long input_read(sock_t in, void *buf, size_t n)
{
    ssize_t r = read(in, buf, n);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? NET_AGAIN : NET_ERROR;
    return (long)r;
}

void input_close(sock_t in)
{
    if (in > 0) /* not standard input */
        close(in);
}

int file_open_append(const char *path)
{
    return open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

long file_write(int fd, const void *p, size_t n)
{
    ssize_t w;
    do
        w = write(fd, p, n);
    while (w < 0 && errno == EINTR);
    return (long)w;
}

int file_sync(int fd)
{
    return fdatasync(fd);
}

long file_read_at(int fd, void *p, size_t n, uint64_t offset)
{
    ssize_t r;
    do
        r = pread(fd, p, n, (off_t)offset);
    while (r < 0 && errno == EINTR);
    return (long)r;
}

int file_truncate(int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size);
}

int64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? -1 : (int64_t)st.st_size;
}

void file_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

int file_view_open(int fd, size_t len, file_view *v)
{
    memset(v, 0, sizeof *v);
    v->len = len;
    if (!len)
        return 0;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    madvise(p, len, MADV_SEQUENTIAL);
    v->data = p;
    v->mapped = 1;
    return 0;
}

void file_view_done(file_view *v, size_t upto)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    upto -= upto % page;
    if (!v->mapped || upto <= v->dropped)
        return;
    madvise((uint8_t *)v->data + v->dropped, upto - v->dropped, MADV_DONTNEED);
    v->dropped = upto;
}

void file_view_close(file_view *v)
{
    if (v->mapped)
        munmap((void *)v->data, v->len);
    memset(v, 0, sizeof *v);
}

uint64_t clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t clock_ms(void)
{
    return clock_us() / 1000u;
}

uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t boot_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_BOOTTIME
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts); /* (plat_boot_id is 0 there: never compared) */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The first 16 hex digits of the kernel's boot id (a random UUID per
 * boot), read once; 0 if there is none (not Linux, no /proc). */
uint64_t plat_boot_id(void)
{
    static uint64_t id;
    static int read_once;
    if (read_once)
        return id;
    read_once = 1;
#ifdef CLOCK_BOOTTIME
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    char text[64];
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    uint64_t v = 0;
    int digits = 0;
    for (const char *p = text; *p && digits < 16; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : *p == '-' ? -1 : -2;
        if (d == -2)
            break;
        if (d >= 0)
            v = v << 4 | (uint64_t)d, digits++;
    }
    id = digits == 16 ? v : 0;
#endif
    return id;
}

int plat_random(void *out, size_t n)
{
    uint8_t *p = out;
#ifdef __linux__
    /* One system call: fopen + a 4 KB buffered read + fclose per call cost
     * 14 us, on every connection's critical path. */
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        p += got, n -= (size_t)got;
    }
    if (n == 0)
        return 0;
#endif
    FILE *f = fopen("/dev/urandom", "rb");
    int ok = f && fread(p, 1, n, f) == n;
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void plat_machine_load(machine_load *l, const char *loadavg_path, const char *meminfo_path)
{
    char text[8192], err[8];
    long n = file_read_small(loadavg_path ? loadavg_path : "/proc/loadavg", text, sizeof text - 1, err, sizeof err);
    l->load_milli = MACHINE_LOAD_UNKNOWN;
    if (n >= 0) {
        text[n] = 0;
        l->load_milli = loadavg_parse(text);
    } else if (!loadavg_path) { /* not Linux: the BSDs and macOS have getloadavg */
        double avg;
        if (getloadavg(&avg, 1) == 1 && avg >= 0 && avg < 4000000.0)
            l->load_milli = (uint32_t)(avg * 1000.0 + 0.5);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    l->cpus = cpus > 0 ? (uint16_t)(cpus < 65535 ? cpus : 65535) : 0;
    l->mem_avail = MACHINE_MEM_UNKNOWN;
    n = file_read_small(meminfo_path ? meminfo_path : "/proc/meminfo", text, sizeof text - 1, err, sizeof err);
    if (n >= 0) {
        text[n] = 0;
        l->mem_avail = meminfo_parse(text);
    }
#ifdef __linux__
    struct sysinfo si;
    if (l->mem_avail == MACHINE_MEM_UNKNOWN && !meminfo_path && sysinfo(&si) == 0)
        l->mem_avail = ((uint64_t)si.freeram + si.bufferram) * (si.mem_unit ? si.mem_unit : 1);
#endif
}

void plat_std_streams_open(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int null = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY); /* the lowest free number: fd */
            if (null >= 0 && null != fd) /* (cannot be: every lower one is open) */
                close(null);
        }
}

/* Standard output and error may be shared with a shell (a terminal) or a
 * pipeline: O_NONBLOCK on our descriptor would change theirs too. A pipe,
 * a terminal or a socket is opened again through /proc (a file
 * description of our own, non-blocking); a regular file never blocks and
 * is written as it is. Without /proc: a write only when poll says a pipe
 * buffer (PIPE_BUF, atomic) has room. */
int plat_write_nowait(int stream, const void *p, size_t n)
{
    static int fds[3] = {-2, -2, -2}, nowait[3];
    int std = stream == 2 ? STDERR_FILENO : STDOUT_FILENO, *fd = &fds[std], *mode = &nowait[std];
    if (*fd == -2) {
        struct stat st;
        *fd = std;
        if (fstat(std, &st) == 0 && !S_ISREG(st.st_mode)) {
            int own = open(std == STDERR_FILENO ? "/proc/self/fd/2" : "/proc/self/fd/1",
                           O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
            if (own >= 0)
                *fd = own, *mode = 1;
            else
                *mode = -1; /* poll before each write */
        }
    }
    if (*mode < 0) {
        struct pollfd pfd = {std, POLLOUT, 0};
        if (n > PIPE_BUF || poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
            return 0;
    }
    ssize_t w;
    do
        w = write(*fd, p, n);
    while (w < 0 && errno == EINTR);
    return w > 0;
}

int plat_chdir(const char *dir, char *err, size_t errlen)
{
    if (chdir(dir) == 0)
        return 0;
    snprintf(err, errlen, "cannot chdir to %s: %s", dir, strerror(errno));
    return -1;
}

int plat_cwd(char *buf, size_t n)
{
    return getcwd(buf, n) ? 0 : -1;
}

/* ------------------------------------------------------- state files --- */

static int say_errno(char *err, size_t errlen, const char *what, const char *path)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

int state_home(char *buf, size_t len, char *err, size_t errlen)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') /* the XDG spec: a relative path is invalid, ignored */
        n = snprintf(buf, len, "%s", xdg);
    else if (home && home[0])
        n = snprintf(buf, len, "%s/.local/state", home);
    else {
        snprintf(err, errlen, "neither XDG_STATE_HOME nor HOME is set: name a --state-dir (or --ephemeral)");
        return -1;
    }
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the state home path is too long");
        return -1;
    }
    return 0;
}

int dir_create(const char *path, char *err, size_t errlen)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) {
        snprintf(err, errlen, "bad directory path '%s'", path);
        return -1;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        struct stat st;
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return say_errno(err, errlen, "cannot create directory", p);
        if (stat(p, &st) < 0)
            return say_errno(err, errlen, "cannot create directory", p);
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create directory %s: %s: %s", path, p, strerror(ENOTDIR));
            return -1;
        }
        p[i] = c;
    }
    return 0;
}

int file_lock_hold(const char *path, long *holder, char *err, size_t errlen)
{
    *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return say_errno(err, errlen, "cannot open", path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        if (errno != EAGAIN && errno != EACCES) {
            say_errno(err, errlen, "cannot lock", path);
            close(fd);
            return -1;
        }
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
            *holder = q.l_pid;
        close(fd);
        return 1;
    }
    /* Held until we exit: the descriptor stays open (closing any descriptor
     * of this file would release a POSIX lock). The pid, for people. */
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        /* the lock is what matters; the pid is only informative */
    }
    return 0;
}

long file_read_small(const char *path, void *buf, size_t cap, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        say_errno(err, errlen, "cannot open", path);
        return errno == ENOENT ? -2 : -1;
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, (char *)buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say_errno(err, errlen, "cannot read", path);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (long)got;
}

FILE *file_open_regular(const char *path, const char *what, char *err, size_t errlen)
{
    /* O_NONBLOCK: open(2) of a FIFO would wait for a writer, and on SIGHUP
     * that would stop the daemon's loop */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s '%s': not a regular file", what, path);
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r"); /* a regular file's reads never wait: O_NONBLOCK changes nothing */
    if (!f) {
        snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

int file_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return say_errno(err, errlen, "cannot create", tmp);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            say_errno(err, errlen, "cannot write", tmp);
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)w;
    }
    if (fsync(fd) < 0) {
        say_errno(err, errlen, "cannot flush", tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        say_errno(err, errlen, "cannot rename into", path);
        unlink(tmp);
        return -1;
    }
    /* the rename is durable once the directory is */
    if (dir_sync_of(path, dir, sizeof dir) < 0) {
        say_errno(err, errlen, "cannot flush directory", dir);
        return -1;
    }
    return 0;
}

int dir_sync_of(const char *path, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, dirlen, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        errno = e;
        return -1;
    }
    close(dfd);
    return 0;
}
#endif
