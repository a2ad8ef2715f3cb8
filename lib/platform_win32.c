/* platform_win32.c - platform.h for Windows (Winsock 2). */
#ifdef _WIN32
#define _CRT_RAND_S /* rand_s: RtlGenRandom, the system's CSPRNG */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <limits.h>
#include <mstcpip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#if FD_SETSIZE < 1024
#error "FD_SETSIZE must be raised before winsock2.h is included: include platform.h first"
#endif

#ifndef SIO_UDP_CONNRESET
#define SIO_UDP_CONNRESET _WSAIOW(IOC_VENDOR, 12)
#endif

/* As on POSIX (platform_posix.c): room for bursts of result fragments. */
#define UDP_BUFFER_BYTES (8 * 1024 * 1024)

/* ------------------------------------------------------------ errors --- */

/* The last failure, as text: the one place WSA and Win32 codes become
 * words (net_last_error). Written by the event loop's thread only. */
static char last_error[256];

/* The Winsock errors a user meets, in words that do not depend on the
 * system's language (nor on Wine, which has no text for them). */
static const char *wsa_text(DWORD code)
{
    switch (code) {
    case WSAEACCES: return "permission denied";
    case WSAEADDRINUSE: return "address already in use";
    case WSAEADDRNOTAVAIL: return "cannot assign requested address";
    case WSAEAFNOSUPPORT: return "address family not supported";
    case WSAECONNABORTED: return "connection aborted";
    case WSAECONNREFUSED: return "connection refused";
    case WSAECONNRESET: return "connection reset by peer";
    case WSAEHOSTUNREACH: return "no route to host";
    case WSAEINVAL: return "invalid argument";
    case WSAEMFILE: return "too many open sockets";
    case WSAENETDOWN: return "network is down";
    case WSAENETUNREACH: return "network is unreachable";
    case WSAENOBUFS: return "no buffer space available";
    case WSAENOTCONN: return "socket is not connected";
    case WSAESHUTDOWN: return "socket was shut down";
    case WSAETIMEDOUT: return "connection timed out";
    case WSAHOST_NOT_FOUND: return "host not found";
    case WSATRY_AGAIN: return "temporary failure in name resolution";
    case WSANO_DATA: return "no address for this name";
    case WSANOTINITIALISED: return "Winsock not initialised";
    }
    return NULL;
}

static void format_code(DWORD code, char *buf, size_t len)
{
    char text[200];
    if (wsa_text(code)) {
        snprintf(buf, len, "%s (error %lu)", wsa_text(code), (unsigned long)code);
        return;
    }
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                             MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT), text, sizeof text, NULL);
    if (n == 0)
        n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, text,
                           sizeof text, NULL);
    while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '.'))
        n--;
    text[n] = 0;
    snprintf(buf, len, "%s (error %lu)", n ? text : "unknown error", (unsigned long)code);
}

static void set_error(DWORD code)
{
    format_code(code, last_error, sizeof last_error);
}

/* "what: text (error N)" into a caller's buffer, as platform_posix.c does
 * with strerror(errno). */
static void say(char *err, size_t errlen, const char *what, DWORD code)
{
    char text[240];
    format_code(code, text, sizeof text);
    snprintf(err, errlen, "%s: %s", what, text);
}

const char *net_last_error(void)
{
    return last_error[0] ? last_error : "unknown error";
}

/* ----------------------------------------------------------- sockets --- */

static void cleanup(void)
{
    WSACleanup();
}

int plat_init(char *err, size_t errlen)
{
    WSADATA wsa;
    int rc = WSAStartup(MAKEWORD(2, 2), &wsa);
    if (rc != 0) {
        say(err, errlen, "WSAStartup", (DWORD)rc);
        return -1;
    }
    atexit(cleanup);
    /* Commands' output and results pass byte for byte, as on POSIX: no
     * "\n" -> "\r\n" translation on the standard streams. */
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
    /* No "program has stopped working" dialog waiting for a click on a
     * server: inherited by the commands too. */
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
    return 0;
}

/* Sockets are inheritable by default on Windows: a command started by the
 * slave would keep its port open (the FD_CLOEXEC of platform_posix.c). */
static void no_inherit(SOCKET s)
{
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
}

static int set_nonblocking(SOCKET s)
{
    u_long one = 1;
    return ioctlsocket(s, FIONBIO, &one) == SOCKET_ERROR ? -1 : 0;
}

void net_resolve_error(int code, char *buf, size_t len)
{
    format_code((DWORD)code, buf, len);
}

static SOCKET new_socket(int family, int dgram, char *err, size_t errlen)
{
    SOCKET s = socket(family, dgram ? SOCK_DGRAM : SOCK_STREAM, dgram ? IPPROTO_UDP : IPPROTO_TCP);
    if (s == INVALID_SOCKET) {
        say(err, errlen, "socket", (DWORD)WSAGetLastError());
        return INVALID_SOCKET;
    }
    no_inherit(s);
    if (dgram) {
        /* Windows reports an ICMP "port unreachable" for an earlier
         * datagram as WSAECONNRESET on the next recvfrom; a slave that is
         * not up yet must not look like a failure of our socket. */
        BOOL off = FALSE;
        DWORD ret = 0;
        WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &ret, NULL, NULL);
    }
    return s;
}

/* only_family: an IPv6 socket gets no IPv4 traffic (IPV6_V6ONLY, also
 * Windows' default), so that one of each family can share a port number. */
static SOCKET bound_socket(const char *host, int port, int dgram, int only_family, char *err, size_t errlen)
{
    net_addr a;
    if (net_resolve(host, port, dgram, &a, err, errlen) < 0)
        return INVALID_SOCKET;
    SOCKET s = new_socket(a.ss.ss_family, dgram, err, errlen);
    if (s == INVALID_SOCKET)
        return INVALID_SOCKET;
    if (!dgram) {
        /* Windows' SO_REUSEADDR would let another program take the port
         * from us; a listener may be rebound over TIME_WAIT without it. */
        BOOL one = TRUE;
        setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
    }
    if (only_family && a.ss.ss_family == AF_INET6) {
        DWORD v6only = 1;
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only, sizeof v6only);
    }
    if (bind(s, (struct sockaddr *)&a.ss, a.len) == SOCKET_ERROR) {
        char what[300];
        snprintf(what, sizeof what, "bind %s:%d", host, port);
        say(err, errlen, what, (DWORD)WSAGetLastError());
        closesocket(s);
        return INVALID_SOCKET;
    }
    if (set_nonblocking(s) < 0) {
        say(err, errlen, "ioctlsocket", (DWORD)WSAGetLastError());
        closesocket(s);
        return INVALID_SOCKET;
    }
    return s;
}

static sock_t udp_socket(const char *host, int port, int only_family, char *err, size_t errlen)
{
    SOCKET s = bound_socket(host, port, 1, only_family, err, errlen);
    if (s == INVALID_SOCKET)
        return SOCK_INVALID;
    int size = UDP_BUFFER_BYTES;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&size, sizeof size);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&size, sizeof size);
    return s;
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
    SOCKET s = bound_socket(host, port, 0, 0, err, errlen);
    if (s == INVALID_SOCKET)
        return SOCK_INVALID;
    if (listen(s, 128) == SOCKET_ERROR) {
        say(err, errlen, "listen", (DWORD)WSAGetLastError());
        closesocket(s);
        return SOCK_INVALID;
    }
    return s;
}

/* platform_posix.c's tcp_liveness: Windows sends 10 probes, 2 s apart,
 * after 5 s of silence. */
static void tcp_liveness(SOCKET s)
{
    BOOL one = TRUE;
    struct tcp_keepalive ka = {1, 5000, 2000};
    DWORD got;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    WSAIoctl(s, SIO_KEEPALIVE_VALS, &ka, sizeof ka, NULL, 0, &got, NULL, NULL);
}

sock_t net_tcp_accept(sock_t listener, net_addr *peer)
{
    peer->len = sizeof peer->ss;
    SOCKET s = accept(listener, (struct sockaddr *)&peer->ss, &peer->len);
    if (s == INVALID_SOCKET) {
        set_error((DWORD)WSAGetLastError());
        return SOCK_INVALID;
    }
    no_inherit(s);
    tcp_liveness(s);
    if (set_nonblocking(s) < 0) {
        closesocket(s);
        return SOCK_INVALID;
    }
    return s;
}

sock_t net_tcp_connect(const net_addr *to, char *err, size_t errlen)
{
    SOCKET s = new_socket(to->ss.ss_family, 0, err, errlen);
    if (s == INVALID_SOCKET)
        return SOCK_INVALID;
    tcp_liveness(s);
    if (set_nonblocking(s) < 0 || (connect(s, (const struct sockaddr *)&to->ss, to->len) == SOCKET_ERROR &&
                                   WSAGetLastError() != WSAEWOULDBLOCK)) {
        say(err, errlen, "connect", (DWORD)WSAGetLastError());
        closesocket(s);
        return SOCK_INVALID;
    }
    return s;
}

int net_connect_result(sock_t s, char *err, size_t errlen)
{
    int soerr = 0;
    int len = sizeof soerr;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&soerr, &len) == SOCKET_ERROR)
        soerr = WSAGetLastError();
    if (soerr) {
        format_code((DWORD)soerr, err, errlen);
        return -1;
    }
    /* A connection that met itself (simultaneous open on a free port of
     * the ephemeral range): nobody is listening there. */
    net_addr self, peer;
    int sl = sizeof self.ss, pl = sizeof peer.ss;
    if (getsockname(s, (struct sockaddr *)&self.ss, &sl) == 0 && getpeername(s, (struct sockaddr *)&peer.ss, &pl) == 0) {
        self.len = sl;
        peer.len = pl;
        if (net_addr_equal(&self, &peer)) {
            format_code(WSAECONNREFUSED, err, errlen);
            return -1;
        }
    }
    return 0;
}

int net_local_port(sock_t s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &len) == SOCKET_ERROR)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Winsock takes int lengths. */
static int io_len(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* n, or NET_AGAIN / NET_ERROR from the socket's last error. On a
 * datagram socket, errors that concern an earlier datagram (an ICMP
 * unreachable, a TTL expired) are not failures: the timers cope. A
 * datagram larger than the buffer comes back cut, as on POSIX. */
static long io_result(int r, int dgram, size_t n)
{
    if (r != SOCKET_ERROR)
        return r;
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK || e == WSAEINTR || e == WSAEINPROGRESS)
        return NET_AGAIN;
    if (dgram && e == WSAEMSGSIZE)
        return (long)io_len(n);
    if (dgram && (e == WSAECONNRESET || e == WSAENETRESET || e == WSAEHOSTUNREACH || e == WSAENETUNREACH ||
                  e == WSAECONNREFUSED))
        return NET_AGAIN;
    set_error((DWORD)e);
    return NET_ERROR;
}

long net_send(sock_t s, const void *p, size_t n)
{
    return io_result(send(s, p, io_len(n), 0), 0, n);
}

long net_recv(sock_t s, void *p, size_t n)
{
    return io_result(recv(s, p, io_len(n), 0), 0, n);
}

long net_sendto(sock_t s, const void *p, size_t n, const net_addr *to)
{
    return io_result(sendto(s, p, io_len(n), 0, (const struct sockaddr *)&to->ss, to->len), 1, n);
}

long net_recvfrom(sock_t s, void *p, size_t n, net_addr *from)
{
    from->len = sizeof from->ss;
    return io_result(recvfrom(s, p, io_len(n), 0, (struct sockaddr *)&from->ss, &from->len), 1, n);
}

void net_close(sock_t s)
{
    if (s != SOCK_INVALID)
        closesocket(s);
}

void net_shutdown_write(sock_t s)
{
    shutdown(s, SD_SEND);
}

/* poll() on select(): sockets only (hence input_open), at most FD_SETSIZE,
 * and a failed non-blocking connect shows in the exception set, not the
 * write set: reported as NET_HUP, as poll() does. */
int net_poll(net_pollfd *fds, int n, int timeout_ms)
{
    static fd_set rd, wr, ex; /* 8 KiB each with FD_SETSIZE 1024: off the stack */
    int count = 0;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    for (int i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].fd == SOCK_INVALID)
            continue;
        if (++count > FD_SETSIZE) {
            snprintf(last_error, sizeof last_error,
                     "%d sockets to watch at once: more than select() can on Windows (FD_SETSIZE %d)", n,
                     FD_SETSIZE);
            return -1;
        }
        if (fds[i].events & NET_IN)
            FD_SET(fds[i].fd, &rd);
        if (fds[i].events & NET_OUT)
            FD_SET(fds[i].fd, &wr);
        FD_SET(fds[i].fd, &ex);
    }
    if (count == 0) { /* select() refuses empty sets: just wait */
        Sleep(timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int r = select(0, &rd, &wr, &ex, timeout_ms < 0 ? NULL : &tv);
    if (r == SOCKET_ERROR) {
        int e = WSAGetLastError();
        if (e == WSAEINTR)
            return 0;
        set_error((DWORD)e);
        return -1;
    }
    int ready = 0;
    for (int i = 0; r > 0 && i < n; i++) {
        if (fds[i].fd == SOCK_INVALID)
            continue;
        short re = 0;
        if (FD_ISSET(fds[i].fd, &rd))
            re |= NET_IN;
        if (FD_ISSET(fds[i].fd, &wr))
            re |= NET_OUT;
        if (FD_ISSET(fds[i].fd, &ex))
            re |= NET_HUP;
        fds[i].revents = re;
        ready += re != 0;
    }
    return ready;
}

/* A loopback UDP socket bound and connected to a second one: only that
 * one can send to it. Both are non-inheritable and non-blocking: no
 * thread ever waits to post an event. */
static int socket_pair_udp(SOCKET *rx, SOCKET *tx)
{
    struct sockaddr_in a;
    int len = sizeof a;
    char err[64];
    *rx = new_socket(AF_INET, 1, err, sizeof err);
    *tx = new_socket(AF_INET, 1, err, sizeof err);
    if (*rx == INVALID_SOCKET || *tx == INVALID_SOCKET)
        goto fail;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(*rx, (struct sockaddr *)&a, sizeof a) == SOCKET_ERROR ||
        bind(*tx, (struct sockaddr *)&a, sizeof a) == SOCKET_ERROR)
        goto fail;
    if (getsockname(*tx, (struct sockaddr *)&a, &len) == SOCKET_ERROR ||
        connect(*rx, (struct sockaddr *)&a, sizeof a) == SOCKET_ERROR)
        goto fail;
    len = sizeof a;
    if (getsockname(*rx, (struct sockaddr *)&a, &len) == SOCKET_ERROR ||
        connect(*tx, (struct sockaddr *)&a, sizeof a) == SOCKET_ERROR || set_nonblocking(*rx) < 0 ||
        set_nonblocking(*tx) < 0)
        goto fail;
    return 0;
fail:
    set_error((DWORD)WSAGetLastError());
    if (*rx != INVALID_SOCKET)
        closesocket(*rx);
    if (*tx != INVALID_SOCKET)
        closesocket(*tx);
    *rx = *tx = INVALID_SOCKET;
    return -1;
}

/* ------------------------------------------------------------ signals --- */

static SOCKET sig_rx = INVALID_SOCKET, sig_tx = INVALID_SOCKET;
static volatile LONG stop_status = 143;

void signal_events_post(int ev)
{
    char c = (char)ev;
    if (sig_tx != INVALID_SOCKET) /* buffer full: events are already pending */
        send(sig_tx, &c, 1, 0);
}

/* Runs on a thread the system creates for the event: only posts. */
static BOOL WINAPI on_console_event(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
        InterlockedExchange(&stop_status, 130);
        signal_events_post(SIGNAL_STOP);
        return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        InterlockedExchange(&stop_status, 143);
        /* The process ends when this returns: leave the event loop a few
         * seconds to kill the commands (the system allows about 5). */
        signal_events_post(SIGNAL_STOP);
        Sleep(4000);
        return TRUE;
    }
    return FALSE;
}

sock_t signal_events_init(void)
{
    if (sig_rx != INVALID_SOCKET)
        return sig_rx;
    if (socket_pair_udp(&sig_rx, &sig_tx) < 0)
        return SOCK_INVALID;
    /* A daemon started with "start /b" inherits "ignore Ctrl-C": take
     * Ctrl-C again, so that Ctrl-C in that console stops it cleanly. */
    SetConsoleCtrlHandler(NULL, FALSE);
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return sig_rx;
}

int signal_stop_status(void)
{
    return (int)InterlockedCompareExchange(&stop_status, 0, 0);
}

int signal_events_take(void)
{
    char ev;
    if (sig_rx == INVALID_SOCKET || recv(sig_rx, &ev, 1, 0) != 1)
        return SIGNAL_NONE;
    return ev;
}

/* ----------------------------------------------------- client input --- */

/* select() cannot wait on a file, a pipe or a console: a thread reads the
 * input (blocking) and writes it into one end of a loopback TCP
 * connection; the client polls and reads the other end. TCP's flow control
 * is the back-pressure: the thread waits while the client does not read. */
typedef struct {
    HANDLE file;
    SOCKET out;
} input_pump;

static char input_error[200]; /* why the thread stopped early, for input_read */

static DWORD WINAPI input_thread(LPVOID arg)
{
    input_pump *ip = arg;
    static char buf[65536];
    for (;;) {
        DWORD n = 0;
        if (!ReadFile(ip->file, buf, sizeof buf, &n, NULL)) {
            DWORD e = GetLastError();
            if (e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF)
                break; /* the writer of a pipe is done: the end */
            format_code(e, input_error, sizeof input_error);
            /* A reset, not an end: the client must not take what it
             * got for the whole file. */
            struct linger lg = {1, 0};
            setsockopt(ip->out, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
            closesocket(ip->out);
            return 0;
        }
        if (n == 0)
            break;
        for (DWORD off = 0; off < n;) {
            int w = send(ip->out, buf + off, (int)(n - off), 0);
            if (w == SOCKET_ERROR)
                return 0; /* the client closed its end */
            off += (DWORD)w;
        }
    }
    shutdown(ip->out, SD_SEND);
    closesocket(ip->out);
    return 0;
}

/* A connected loopback TCP pair: *a non-blocking for the event loop, *b
 * blocking for the thread. The accepted peer must be our own connect. */
static int socket_pair_tcp(SOCKET *a, SOCKET *b, char *err, size_t errlen)
{
    struct sockaddr_in addr, mine, peer;
    int len = sizeof addr;
    SOCKET l = new_socket(AF_INET, 0, err, errlen);
    *a = *b = INVALID_SOCKET;
    if (l == INVALID_SOCKET)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) == SOCKET_ERROR || listen(l, 1) == SOCKET_ERROR ||
        getsockname(l, (struct sockaddr *)&addr, &len) == SOCKET_ERROR)
        goto fail;
    *b = new_socket(AF_INET, 0, err, errlen);
    if (*b == INVALID_SOCKET || connect(*b, (struct sockaddr *)&addr, sizeof addr) == SOCKET_ERROR)
        goto fail;
    len = sizeof mine;
    if (getsockname(*b, (struct sockaddr *)&mine, &len) == SOCKET_ERROR)
        goto fail;
    len = sizeof peer;
    *a = accept(l, (struct sockaddr *)&peer, &len);
    if (*a == INVALID_SOCKET)
        goto fail;
    no_inherit(*a);
    if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr) {
        snprintf(err, errlen, "input socket: a stranger connected first");
        closesocket(l);
        closesocket(*a);
        closesocket(*b);
        *a = *b = INVALID_SOCKET;
        return -1;
    }
    closesocket(l);
    if (set_nonblocking(*a) < 0)
        goto fail;
    return 0;
fail:
    say(err, errlen, "input socket", (DWORD)WSAGetLastError());
    closesocket(l);
    if (*a != INVALID_SOCKET)
        closesocket(*a);
    if (*b != INVALID_SOCKET)
        closesocket(*b);
    *a = *b = INVALID_SOCKET;
    return -1;
}

sock_t input_open(const char *path, char *err, size_t errlen)
{
    static input_pump ip; /* one input per process: the client's */
    HANDLE f;
    if (strcmp(path, "-") == 0) {
        f = GetStdHandle(STD_INPUT_HANDLE);
        if (f == NULL || f == INVALID_HANDLE_VALUE) {
            snprintf(err, errlen, "no standard input");
            return SOCK_INVALID;
        }
    } else {
        f = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                        OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, NULL);
        if (f == INVALID_HANDLE_VALUE) {
            format_code(GetLastError(), err, errlen);
            return SOCK_INVALID;
        }
        if (GetFileType(f) == FILE_TYPE_DISK) {
            BY_HANDLE_FILE_INFORMATION info;
            if (GetFileInformationByHandle(f, &info) && (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
                snprintf(err, errlen, "Is a directory");
                CloseHandle(f);
                return SOCK_INVALID;
            }
        }
    }
    SOCKET a, b;
    if (socket_pair_tcp(&a, &b, err, errlen) < 0)
        return SOCK_INVALID;
    ip.file = f;
    ip.out = b;
    HANDLE t = CreateThread(NULL, 0, input_thread, &ip, 0, NULL);
    if (!t) {
        say(err, errlen, "CreateThread", GetLastError());
        closesocket(a);
        closesocket(b);
        return SOCK_INVALID;
    }
    CloseHandle(t);
    return a;
}

long input_read(sock_t in, void *buf, size_t n)
{
    long r = io_result(recv(in, buf, io_len(n), 0), 0, n);
    if (r == NET_ERROR && input_error[0])
        snprintf(last_error, sizeof last_error, "%s", input_error);
    return r;
}

void input_close(sock_t in)
{
    net_close(in);
}

/* ------------------------------------------------------------- clocks --- */

int dir_sync_of(const char *path, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "%s", path); /* NTFS: the metadata is journaled; nothing to flush */
    return 0;
}

int file_open_append(const char *path)
{
    return _open(path, _O_RDWR | _O_CREAT | _O_APPEND | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE);
}

long file_write(int fd, const void *p, size_t n)
{
    return _write(fd, p, n > INT_MAX ? INT_MAX : (unsigned)n);
}

int file_sync(int fd)
{
    return _commit(fd);
}

/* The journal is read by one thread: seek, then read. */
long file_read_at(int fd, void *p, size_t n, uint64_t offset)
{
    if (_lseeki64(fd, (__int64)offset, SEEK_SET) < 0)
        return -1;
    return _read(fd, p, n > INT_MAX ? INT_MAX : (unsigned)n);
}

int file_truncate(int fd, uint64_t size)
{
    return _chsize_s(fd, (__int64)size) == 0 ? 0 : -1;
}

int64_t file_size(int fd)
{
    return _filelengthi64(fd);
}

void file_close(int fd)
{
    if (fd >= 0)
        _close(fd);
}

/* Windows: read into memory (no page dropping). */
int file_view_open(int fd, size_t len, file_view *v)
{
    memset(v, 0, sizeof *v);
    v->len = len;
    if (!len)
        return 0;
    uint8_t *p = malloc(len);
    if (!p)
        return -1;
    for (size_t got = 0; got < len;) {
        long r = file_read_at(fd, p + got, len - got, got);
        if (r <= 0) {
            free(p);
            return -1;
        }
        got += (size_t)r;
    }
    v->data = p;
    return 0;
}

void file_view_done(file_view *v, size_t upto)
{
    (void)v, (void)upto;
}

void file_view_close(file_view *v)
{
    free((void *)v->data);
    memset(v, 0, sizeof *v);
}

uint64_t clock_us(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER c;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&c);
    uint64_t f = (uint64_t)freq.QuadPart, v = (uint64_t)c.QuadPart;
    return v / f * 1000000u + v % f * 1000000u / f; /* no overflow after days of uptime */
}

uint64_t clock_ms(void)
{
    return clock_us() / 1000u;
}

uint64_t wall_ms(void)
{
    FILETIME ft;
    GetSystemTimeAsFileTime(&ft); /* 100 ns units since 1601 */
    uint64_t t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
    return (t - 116444736000000000ull) / 10000u;
}

uint64_t boot_ms(void)
{
    return GetTickCount64(); /* since boot, sleep included */
}

/* Windows names no boot: when it booted on the wall clock, in minutes,
 * stands for it. A wall-clock step of a minute or more makes it another
 * boot (the wall clock is then used, clamped: doc/journal.md QUEUED). */
uint64_t plat_boot_id(void)
{
    uint64_t booted = wall_ms() - GetTickCount64();
    return booted / 60000u + 1; /* never 0 */
}

uint64_t wall_us(void)
{
    FILETIME ft;
    GetSystemTimeAsFileTime(&ft);
    uint64_t t = (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
    return (t - 116444736000000000ull) / 10u;
}

int plat_random(void *out, size_t n)
{
    uint8_t *p = out;
    for (size_t i = 0; i < n; i += 4) {
        unsigned int v;
        if (rand_s(&v) != 0)
            return -1;
        memcpy(p + i, &v, n - i < 4 ? n - i : 4);
    }
    return 0;
}

int cpu_count(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    if (n == 0) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        n = si.dwNumberOfProcessors;
    }
    return n > 0 ? (int)n : 1;
}

/* No load average on Windows: the CPU busy fraction since the previous
 * call (GetSystemTimes: idle, kernel with idle in it, user) times the
 * CPUs, averaged over about a minute as the 1-minute load average is
 * (each sample weighs its interval / 60 s). The first call has nothing
 * to compare with: the fraction since boot. Called from the event
 * loop's thread only. */
static uint64_t filetime_u64(FILETIME t)
{
    return (uint64_t)t.dwHighDateTime << 32 | t.dwLowDateTime;
}

void plat_machine_load(machine_load *l, const char *loadavg_path, const char *meminfo_path)
{
    static uint64_t last_idle, last_total, last_ms;
    static double avg = -1;
    char text[8192], err[8];
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    l->cpus = n ? (uint16_t)(n < 65535 ? n : 65535) : 0;
    l->load_milli = MACHINE_LOAD_UNKNOWN;
    long got;
    if (loadavg_path) {
        if ((got = file_read_small(loadavg_path, text, sizeof text - 1, err, sizeof err)) >= 0) {
            text[got] = 0;
            l->load_milli = loadavg_parse(text);
        }
    } else {
        FILETIME idle, kernel, user;
        if (GetSystemTimes(&idle, &kernel, &user)) {
            uint64_t i = filetime_u64(idle), total = filetime_u64(kernel) + filetime_u64(user);
            uint64_t now = clock_ms();
            if (total > last_total && i >= last_idle) {
                double busy = 1.0 - (double)(i - last_idle) / (double)(total - last_total);
                busy = busy < 0 ? 0 : busy > 1 ? 1 : busy;
                double w = avg < 0 ? 1.0 : (double)(now - last_ms) / 60000.0;
                avg = avg < 0 ? busy : avg + (w > 1 ? 1 : w) * (busy - avg);
            }
            last_idle = i;
            last_total = total;
            last_ms = now;
            if (avg >= 0 && l->cpus)
                l->load_milli = (uint32_t)(avg * l->cpus * 1000.0 + 0.5);
        }
    }
    l->mem_avail = MACHINE_MEM_UNKNOWN;
    if (meminfo_path) {
        if ((got = file_read_small(meminfo_path, text, sizeof text - 1, err, sizeof err)) >= 0) {
            text[got] = 0;
            l->mem_avail = meminfo_parse(text);
        }
    } else {
        MEMORYSTATUSEX ms;
        ms.dwLength = sizeof ms;
        if (GlobalMemoryStatusEx(&ms))
            l->mem_avail = ms.ullAvailPhys;
    }
}

/* Nothing: sockets are handles there, not descriptors, and the CRT keeps
 * descriptors 0-2 for the standard streams even without a handle (not
 * tested with a process started without them). */
void plat_std_streams_open(void)
{
}

/* A daemon's standard output and error, never blocking (platform.h). A
 * pipe blocks WriteFile once its buffer is full, and no non-blocking
 * write is to be had on every pipe: PIPE_NOWAIT (SetNamedPipeHandleState)
 * is kept "for LAN Manager 2.0 compatibility" only, and would change the
 * mode of the handle we share with our parent (as O_NONBLOCK would on
 * POSIX); under Wine a Unix pipe is a FILE_TYPE_PIPE handle on which
 * SetNamedPipeHandleState, GetNamedPipeInfo and PeekNamedPipe all fail.
 * So each stream that is not a disk file (a pipe, a console, a serial line)
 * gets a writer thread and a bounded queue: the loop queues a line whole,
 * or drops it when the queue is full (the caller counts it); only the
 * writer thread waits in WriteFile, for a reader, or for a console held by
 * a QuickEdit selection. Each line or block leaves in one WriteFile, as
 * one write(2) on POSIX: stdout and stderr on one pipe do not cut each
 * other's lines. A disk file never blocks: written at once. At exit what
 * is queued gets at most STREAM_EXIT_WAIT_MS to leave. */
#define STREAM_QUEUE_BYTES (64 * 1024)
#define STREAM_RECORD_MAX (16 * 1024) /* a longer line or block is dropped */
#define STREAM_EXIT_WAIT_MS 1000

enum stream_mode { STREAM_UNSET, STREAM_DIRECT, STREAM_QUEUED, STREAM_NONE };

typedef struct {
    enum stream_mode mode;
    HANDLE handle;
    CRITICAL_SECTION lock;
    CONDITION_VARIABLE changed; /* a record queued (for the writer), or written (for the exit's wait) */
    /* The queue: records (a 4-byte length, then the bytes), used bytes
     * from ring[head], wrapping. */
    size_t head, used;
    int writing; /* the writer holds a record taken off the queue */
    int broken;  /* WriteFile failed (the reader is gone): every later line is dropped */
    char ring[STREAM_QUEUE_BYTES];
    char record[STREAM_RECORD_MAX]; /* the writer's: the record being written */
} out_stream;

static out_stream out_streams[2]; /* stdout, stderr; set up by the event loop's thread */

static void ring_put(out_stream *s, const void *p, size_t n)
{
    size_t tail = (s->head + s->used) % STREAM_QUEUE_BYTES;
    size_t first = n < STREAM_QUEUE_BYTES - tail ? n : STREAM_QUEUE_BYTES - tail;
    memcpy(s->ring + tail, p, first);
    memcpy(s->ring, (const char *)p + first, n - first);
    s->used += n;
}

static void ring_take(out_stream *s, void *p, size_t n)
{
    size_t first = n < STREAM_QUEUE_BYTES - s->head ? n : STREAM_QUEUE_BYTES - s->head;
    memcpy(p, s->ring + s->head, first);
    memcpy((char *)p + first, s->ring, n - first);
    s->head = (s->head + n) % STREAM_QUEUE_BYTES;
    s->used -= n;
}

static DWORD WINAPI stream_writer(LPVOID arg)
{
    out_stream *s = arg;
    EnterCriticalSection(&s->lock);
    for (;;) {
        while (s->used == 0)
            SleepConditionVariableCS(&s->changed, &s->lock, INFINITE);
        uint32_t len;
        ring_take(s, &len, sizeof len);
        ring_take(s, s->record, len); /* bounded by plat_write_nowait */
        s->writing = 1;
        LeaveCriticalSection(&s->lock);
        DWORD done = 0, off = 0;
        while (off < len && WriteFile(s->handle, s->record + off, len - off, &done, NULL) && done > 0)
            off += done;
        EnterCriticalSection(&s->lock);
        s->writing = 0;
        WakeAllConditionVariable(&s->changed);
        if (off < len) {
            s->broken = 1;
            s->used = 0;
            LeaveCriticalSection(&s->lock);
            return 0;
        }
    }
}

/* atexit: the last lines (a daemon's "shutting down", die's reason) leave
 * if a reader takes them within the bound; else they are lost with the
 * process, which must not hang on a pipe nobody reads. */
static void streams_drain_at_exit(void)
{
    ULONGLONG deadline = GetTickCount64() + STREAM_EXIT_WAIT_MS;
    for (int i = 0; i < 2; i++) {
        out_stream *s = &out_streams[i];
        if (s->mode != STREAM_QUEUED)
            continue;
        EnterCriticalSection(&s->lock);
        for (ULONGLONG now = GetTickCount64(); (s->used > 0 || s->writing) && now < deadline; now = GetTickCount64())
            SleepConditionVariableCS(&s->changed, &s->lock, (DWORD)(deadline - now));
        LeaveCriticalSection(&s->lock);
    }
}

static void stream_setup(out_stream *s, DWORD which)
{
    static int drain_registered;
    s->handle = GetStdHandle(which);
    s->mode = STREAM_NONE;
    if (s->handle == NULL || s->handle == INVALID_HANDLE_VALUE)
        return;
    s->mode = STREAM_DIRECT;
    if (GetFileType(s->handle) == FILE_TYPE_DISK)
        return;
    InitializeCriticalSection(&s->lock);
    InitializeConditionVariable(&s->changed);
    HANDLE t = CreateThread(NULL, 64 * 1024, stream_writer, s, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (!t) /* no thread to be had: written at once, as before (it may block) */
        return;
    CloseHandle(t);
    s->mode = STREAM_QUEUED;
    if (!drain_registered) {
        drain_registered = 1;
        atexit(streams_drain_at_exit);
    }
}

int plat_write_nowait(int stream, const void *p, size_t n)
{
    out_stream *s = &out_streams[stream == 2];
    if (s->mode == STREAM_UNSET)
        stream_setup(s, stream == 2 ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE);
    if (s->mode == STREAM_DIRECT) {
        size_t off = 0;
        DWORD done;
        while (off < n) {
            DWORD chunk = (DWORD)(n - off < 65536 ? n - off : 65536);
            if (!WriteFile(s->handle, (const char *)p + off, chunk, &done, NULL) || done == 0)
                break;
            off += done;
        }
        return off > 0;
    }
    if (s->mode != STREAM_QUEUED || n == 0 || n > STREAM_RECORD_MAX)
        return 0;
    uint32_t len = (uint32_t)n;
    EnterCriticalSection(&s->lock);
    int fits = !s->broken && sizeof len + n <= STREAM_QUEUE_BYTES - s->used;
    if (fits) {
        ring_put(s, &len, sizeof len);
        ring_put(s, p, n);
        WakeConditionVariable(&s->changed);
    }
    LeaveCriticalSection(&s->lock);
    return fits;
}

int plat_chdir(const char *dir, char *err, size_t errlen)
{
    if (SetCurrentDirectoryA(dir))
        return 0;
    snprintf(err, errlen, "cannot chdir to %s: error %lu", dir, (unsigned long)GetLastError());
    return -1;
}

int plat_cwd(char *buf, size_t n)
{
    DWORD got = GetCurrentDirectoryA((DWORD)n, buf);
    return got > 0 && got < n ? 0 : -1;
}

/* ------------------------------------------------------- state files --- */

static int say_path(char *err, size_t errlen, const char *what, const char *path, DWORD code)
{
    char text[240];
    format_code(code, text, sizeof text);
    snprintf(err, errlen, "%s %s: %s", what, path, text);
    return -1;
}

int state_home(char *buf, size_t len, char *err, size_t errlen)
{
    const char *local = getenv("LOCALAPPDATA");
    if (!local || !local[0]) {
        snprintf(err, errlen, "LOCALAPPDATA is not set: name a --state-dir (or --ephemeral)");
        return -1;
    }
    int n = snprintf(buf, len, "%s", local);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the state home path is too long");
        return -1;
    }
    return 0;
}

int dir_create(const char *path, char *err, size_t errlen)
{
    char p[MAX_PATH * 4];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p) {
        snprintf(err, errlen, "bad directory path '%s'", path);
        return -1;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\\' && p[i] != 0)
            continue;
        if (i == 2 && p[1] == ':') /* "C:\" */
            continue;
        char c = p[i];
        p[i] = 0;
        if (!CreateDirectoryA(p, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
            return say_path(err, errlen, "cannot create directory", p, GetLastError());
        DWORD attr = GetFileAttributesA(p);
        if (attr == INVALID_FILE_ATTRIBUTES || !(attr & FILE_ATTRIBUTE_DIRECTORY)) {
            snprintf(err, errlen, "cannot create directory %s: %s is not a directory", path, p);
            return -1;
        }
        p[i] = c;
    }
    return 0;
}

/* The lock covers one byte far past the pid, so that the pid stays
 * readable by the master that finds the dir in use. */
#define LOCK_OFFSET 0x40000000u

int file_lock_hold(const char *path, long *holder, char *err, size_t errlen)
{
    *holder = 0;
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return say_path(err, errlen, "cannot open", path, GetLastError());
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.Offset = LOCK_OFFSET;
    if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
        DWORD code = GetLastError();
        if (code != ERROR_LOCK_VIOLATION && code != ERROR_IO_PENDING) {
            say_path(err, errlen, "cannot lock", path, code);
            CloseHandle(h);
            return -1;
        }
        char text[32] = {0};
        DWORD got = 0;
        if (ReadFile(h, text, sizeof text - 1, &got, NULL))
            *holder = strtol(text, NULL, 10);
        CloseHandle(h);
        return 1;
    }
    /* held until we exit: the handle is never closed */
    char text[32];
    int len = snprintf(text, sizeof text, "%lu\r\n", (unsigned long)GetCurrentProcessId());
    DWORD wrote;
    SetFilePointer(h, 0, NULL, FILE_BEGIN);
    SetEndOfFile(h);
    WriteFile(h, text, (DWORD)len, &wrote, NULL);
    return 0;
}

long file_read_small(const char *path, void *buf, size_t cap, char *err, size_t errlen)
{
    HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD code = GetLastError();
        say_path(err, errlen, "cannot open", path, code);
        return code == ERROR_FILE_NOT_FOUND ? -2 : -1;
    }
    DWORD got = 0;
    if (!ReadFile(h, buf, cap > 0x7fffffff ? 0x7fffffff : (DWORD)cap, &got, NULL)) {
        say_path(err, errlen, "cannot read", path, GetLastError());
        CloseHandle(h);
        return -1;
    }
    CloseHandle(h);
    return (long)got;
}

FILE *file_open_regular(const char *path, const char *what, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st; /* a device (CON, NUL, a pipe) reads without end or waits */
    if (fstat(_fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s '%s': not a regular file", what, path);
        fclose(f);
        return NULL;
    }
    return f;
}

int file_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    char tmp[MAX_PATH * 4];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    HANDLE h = CreateFileA(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return say_path(err, errlen, "cannot create", tmp, GetLastError());
    DWORD wrote = 0;
    if (!WriteFile(h, data, (DWORD)n, &wrote, NULL) || wrote != n || !FlushFileBuffers(h)) {
        say_path(err, errlen, "cannot write", tmp, GetLastError());
        CloseHandle(h);
        DeleteFileA(tmp);
        return -1;
    }
    CloseHandle(h);
    if (!MoveFileExA(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        say_path(err, errlen, "cannot rename into", path, GetLastError());
        DeleteFileA(tmp);
        return -1;
    }
    return 0;
}
#endif
