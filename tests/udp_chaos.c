/*
 * udp_chaos - a datagram proxy that loses, duplicates and reorders, to
 * test the master <-> slave protocol on loopback.
 *
 *   udp_chaos [--drop PCT] [--dup PCT] [--reorder PCT] [--seed N] [--record FILE]
 *             [--record-answers FILE] LISTEN_PORT TARGET_HOST TARGET_PORT
 *
 * The master sends to 127.0.0.1:LISTEN_PORT; each datagram goes on to the
 * target from a second (upstream) socket, and the target's answers come
 * back to whoever last sent to the listen socket. Each direction has its
 * own fate: drop, duplicate, or hold back until the next datagram of that
 * direction has gone (at most REORDER_HOLD_US). One poll loop, no threads.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"

#define REORDER_HOLD_US 20000u
#define MAX_DATAGRAM 65536
#define BATCH 256 /* datagrams read per socket per wake-up: both sides get a turn */

typedef struct {
    const char *name;
    uint64_t forwarded, dropped, duplicated, reordered, send_errors;
    int held;         /* a datagram is waiting in hold */
    int held_dup;     /* ...and was chosen for duplication too */
    uint64_t held_until_us;
    size_t held_len;
    uint8_t hold[MAX_DATAGRAM];
} direction;

typedef struct {
    double drop, dup, reorder; /* percentages */
    uint64_t rng;
    sock_t listen_sock, up_sock;
    net_addr target, master;
    int have_master;
    direction to_target, to_master;
    FILE *record; /* --record: what the master sent, before any chaos */
    FILE *record_answers; /* --record-answers: what the target sent back */
} chaos;

/* splitmix64: tiny, and the same sequence for the same --seed everywhere. */
static uint64_t rng_next(chaos *c)
{
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* True with probability pct percent. */
static int roll(chaos *c, double pct)
{
    double x = (double)(rng_next(c) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    return x * 100.0 < pct;
}

static void send_one(chaos *c, direction *d, const uint8_t *p, size_t n, int dup)
{
    sock_t s = d == &c->to_target ? c->up_sock : c->listen_sock;
    const net_addr *to = d == &c->to_target ? &c->target : &c->master;
    for (int k = 0; k <= dup; k++) {
        /* A full socket buffer loses the datagram, as a real network would;
         * it is counted apart so that the test's counts stay honest. */
        if (net_sendto(s, p, n, to) < 0)
            d->send_errors++;
        else
            d->forwarded++;
    }
    if (dup)
        d->duplicated++;
}

static void release_held(chaos *c, direction *d)
{
    if (!d->held)
        return;
    d->held = 0;
    send_one(c, d, d->hold, d->held_len, d->held_dup);
}

/* One datagram in direction d: decide its fate. Three rolls every time,
 * so the fates follow from the seed and the order of arrival only. */
static void on_datagram(chaos *c, direction *d, const uint8_t *p, size_t n)
{
    int drop = roll(c, c->drop), dup = roll(c, c->dup), reorder = roll(c, c->reorder);
    int was_held = d->held;
    if (drop) {
        d->dropped++;
    } else if (reorder && !was_held) {
        memcpy(d->hold, p, n);
        d->held_len = n;
        d->held_dup = dup;
        d->held = 1;
        d->held_until_us = clock_us() + REORDER_HOLD_US;
        d->reordered++;
    } else {
        send_one(c, d, p, n, dup);
    }
    /* The held one goes after this one: that is the reordering. */
    if (was_held)
        release_held(c, d);
}

static void drain(chaos *c, sock_t s, direction *d)
{
    static uint8_t buf[MAX_DATAGRAM];
    for (int k = 0; k < BATCH; k++) {
        net_addr from;
        long r = net_recvfrom(s, buf, sizeof buf, &from);
        if (r < 0)
            return;
        if (d == &c->to_target) {
            c->master = from; /* answers go to the latest sender */
            c->have_master = 1;
        } else if (!net_addr_equal(&from, &c->target) || !c->have_master) {
            continue; /* only the target speaks to the upstream socket */
        }
        FILE *rec = d == &c->to_target ? c->record : c->record_answers;
        if (rec) { /* for replay tests: [u32 length][bytes] */
            uint8_t len[4] = {(uint8_t)(r >> 24), (uint8_t)(r >> 16), (uint8_t)(r >> 8), (uint8_t)r};
            fwrite(len, 1, 4, rec);
            fwrite(buf, 1, (size_t)r, rec);
            fflush(rec);
        }
        on_datagram(c, d, buf, (size_t)r);
    }
}

static void release_expired(chaos *c, direction *d, uint64_t now)
{
    if (d->held && now >= d->held_until_us)
        release_held(c, d);
}

static int poll_timeout(const chaos *c)
{
    uint64_t now = clock_us(), next = 0;
    const direction *ds[2] = {&c->to_target, &c->to_master};
    for (int i = 0; i < 2; i++)
        if (ds[i]->held && (!next || ds[i]->held_until_us < next))
            next = ds[i]->held_until_us;
    if (!next)
        return -1;
    return next <= now ? 0 : (int)((next - now + 999) / 1000);
}

static void summary(const chaos *c)
{
    const direction *ds[2] = {&c->to_target, &c->to_master};
    char part[2][200];
    for (int i = 0; i < 2; i++)
        snprintf(part[i], sizeof part[i],
                 "%s: forwarded %llu dropped %llu duplicated %llu reordered %llu send_errors %llu", ds[i]->name,
                 (unsigned long long)ds[i]->forwarded, (unsigned long long)ds[i]->dropped,
                 (unsigned long long)ds[i]->duplicated, (unsigned long long)ds[i]->reordered,
                 (unsigned long long)ds[i]->send_errors);
    LOG(LOG_INFO, "summary: %s; %s", part[0], part[1]);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: udp_chaos [--drop PCT] [--dup PCT] [--reorder PCT] [--seed N] [--record FILE]\n"
            "                 [--record-answers FILE]\n"
            "                 LISTEN_PORT TARGET_HOST TARGET_PORT\n"
            "Forwards datagrams between 127.0.0.1:LISTEN_PORT (0: any free port) and TARGET,\n"
            "which must be a 127.0.0.0/8 address, dropping, duplicating and reordering each\n"
            "direction with the given probabilities (percent, default 0). Prints a summary on\n"
            "SIGTERM or SIGINT.\n");
}

static double percent(const char *opt, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0 && v <= 100)) {
        fprintf(stderr, "udp_chaos: %s: '%s' is not a percentage from 0 to 100\n", opt, text);
        exit(2);
    }
    return v;
}

static int port_arg(const char *text)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 65535) {
        fprintf(stderr, "udp_chaos: '%s' is not a port from 0 to 65535\n", text);
        exit(2);
    }
    return (int)v;
}

/* IPv4 only, and loopback only: this tool must never send off the host. */
static void resolve_loopback(const char *host, int port, net_addr *out)
{
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "udp_chaos: refusing target '%s': does not resolve to an IPv4 address (%s)\n", host,
                gai_strerror(rc));
        exit(2);
    }
    const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
    if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127 || port == 0) {
        char text[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        fprintf(stderr, "udp_chaos: refusing target %s:%d: only 127.0.0.0/8 and a nonzero port are allowed\n", text,
                port);
        freeaddrinfo(res);
        exit(2);
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
}

int main(int argc, char **argv)
{
    enum { OPT_DROP = 256, OPT_DUP, OPT_REORDER, OPT_SEED, OPT_RECORD, OPT_RECORD_ANSWERS };
    static const struct option longopts[] = {
        {"drop", required_argument, NULL, OPT_DROP},       {"dup", required_argument, NULL, OPT_DUP},
        {"reorder", required_argument, NULL, OPT_REORDER}, {"seed", required_argument, NULL, OPT_SEED},
        {"record", required_argument, NULL, OPT_RECORD},
        {"record-answers", required_argument, NULL, OPT_RECORD_ANSWERS},
        {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0}};
    static chaos cs;
    chaos *c = &cs;
    uint64_t seed = (uint64_t)time(NULL);
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_DROP: c->drop = percent("--drop", optarg); break;
        case OPT_RECORD:
            if (!(c->record = fopen(optarg, "wb"))) {
                fprintf(stderr, "udp_chaos: --record: cannot write '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_RECORD_ANSWERS:
            if (!(c->record_answers = fopen(optarg, "wb"))) {
                fprintf(stderr, "udp_chaos: --record-answers: cannot write '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_DUP: c->dup = percent("--dup", optarg); break;
        case OPT_REORDER: c->reorder = percent("--reorder", optarg); break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "udp_chaos: --seed: '%s' is not a number\n", optarg);
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 3) {
        usage(stderr);
        return 2;
    }
    int listen_port = port_arg(argv[optind]);
    int target_port = port_arg(argv[optind + 2]);
    resolve_loopback(argv[optind + 1], target_port, &c->target);
    c->rng = seed;
    c->to_target.name = "to-target";
    c->to_master.name = "to-master";

    char err[256];
    if (plat_init(err, sizeof err) < 0) {
        fprintf(stderr, "udp_chaos: %s\n", err);
        return 1;
    }
    log_init("chaos", LOG_INFO);
    c->listen_sock = net_udp_bind("127.0.0.1", listen_port, err, sizeof err);
    if (c->listen_sock == SOCK_INVALID)
        die("cannot listen on UDP 127.0.0.1:%d: %s", listen_port, err);
    c->up_sock = net_udp_bind("127.0.0.1", 0, err, sizeof err);
    if (c->up_sock == SOCK_INVALID)
        die("cannot open the upstream UDP socket: %s", err);
    sock_t sigfd = signal_events_init();
    if (sigfd == SOCK_INVALID)
        die("cannot set up signal handling");
    char target_name[80];
    net_addr_str(&c->target, target_name, sizeof target_name);
    LOG(LOG_INFO, "listening on UDP 127.0.0.1:%d -> %s (drop %g%%, dup %g%%, reorder %g%%, seed %llu)",
        net_local_port(c->listen_sock), target_name, c->drop, c->dup, c->reorder, (unsigned long long)seed);

    for (;;) {
        net_pollfd p[3] = {{c->listen_sock, NET_IN, 0}, {c->up_sock, NET_IN, 0}, {sigfd, NET_IN, 0}};
        if (net_poll(p, 3, poll_timeout(c)) < 0)
            die("poll: %s", net_last_error());
        if (p[2].revents) {
            int ev, stop = 0;
            while ((ev = signal_events_take()) != SIGNAL_NONE)
                stop |= ev == SIGNAL_STOP;
            if (stop)
                break;
        }
        if (p[0].revents)
            drain(c, c->listen_sock, &c->to_target);
        if (p[1].revents)
            drain(c, c->up_sock, &c->to_master);
        uint64_t now = clock_us();
        release_expired(c, &c->to_target, now);
        release_expired(c, &c->to_master, now);
    }
    summary(c);
    net_close(c->listen_sock);
    net_close(c->up_sock);
    return 0;
}
