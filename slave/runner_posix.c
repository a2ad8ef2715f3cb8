/* runner_posix.c - running shell commands on POSIX systems (runner.h). */
#ifndef _WIN32
#define _GNU_SOURCE
#include "runner.h"
#include "platform.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "log.h"

extern char **environ;

/* ------------------------------------------------------------ keeper --- */

/* PR_SET_PDEATHSIG reaches only a command's shell, not what the shell
 * started. So the slave has a keeper: a child forked at start (before any
 * socket exists), in a process group of its own, ignoring the signals a
 * terminal or a group kill sends. The slave tells it "+pgid" when a command
 * starts and "-pgid" before it reaps one (while the zombie keeps the id from
 * being reused). When its end of the socketpair closes - the slave exited,
 * however it died - the keeper kills every process group it still knows
 * and, where the slave has a cgroup for its commands, the whole cgroup
 * (cgroup.kill also reaches processes that left their group with setsid).
 * Then it exits. */
static int keeper_fd = -1;     /* the slave's end; -1: no keeper */
static pid_t keeper_pid = -1;
static uint64_t keeper_started_ms; /* when a replacement keeper started; 0: the first */
static int cg_procs_fd = -1;   /* the commands' cgroup.procs, or -1 */
static char cg_dir[512];       /* the commands' cgroup, "" if none */

/* A set of process groups: the slave's copy of what it told the keeper,
 * and the keeper's own. A record is +pgid (add) or -pgid (remove). */
typedef struct {
    pid_t *v;
    size_t n, cap;
} pgid_set;

/* 0, or -1 if a +pgid could not be remembered (out of memory). */
static int pgid_set_apply(pgid_set *set, int32_t rec)
{
    if (rec < 0) {
        for (size_t i = 0; i < set->n; i++)
            if (set->v[i] == (pid_t)-rec) {
                set->v[i] = set->v[--set->n];
                break;
            }
        return 0;
    }
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        pid_t *nv = realloc(set->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        set->v = nv, set->cap = ncap;
    }
    set->v[set->n++] = (pid_t)rec;
    return 0;
}

/* The groups the keeper was told of, to tell a new keeper if it dies. */
static pgid_set live;

static void keeper_tell(int32_t rec)
{
    pgid_set_apply(&live, rec);
    if (keeper_fd < 0)
        return;
    ssize_t n = send(keeper_fd, &rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        /* Its socket is full: the keeper is not reading (stopped?). */
        kill(keeper_pid, SIGCONT);
        n = send(keeper_fd, &rec, sizeof rec, MSG_NOSIGNAL);
    }
    if (n != (ssize_t)sizeof rec)
        LOG(LOG_ERROR, "cannot tell the keeper about process group %d: %s", (int)(rec < 0 ? -rec : rec),
            strerror(errno));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Writes text to a control file (cgroup.kill, pids.max...): 0, or the errno. */
static int write_file(const char *path, const char *text)
{
    size_t n = strlen(text);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    errno = 0;
    int e = write(fd, text, n) == (ssize_t)n ? 0 : errno ? errno : EIO; /* a short write sets none */
    close(fd);
    return e;
}

/* Removes the commands' cgroups (cmd.N) left in dir: 0 once none is left. */
static int cgroup_remove_children(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int left = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char sub[700];
        if (strncmp(e->d_name, "cmd.", 4) != 0 || (size_t)snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= sizeof sub)
            continue;
        if (rmdir(sub) < 0 && errno != ENOENT)
            left = 1;
    }
    closedir(d);
    return left;
}

/* Kills everything in the cgroup dir and below, and removes it once empty
 * (bounded). */
static void cgroup_kill_and_remove(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cgroup.kill", dir);
    (void)write_file(path, "1");
    for (int i = 0; i < 200; i++) {
        if (!cgroup_remove_children(dir) && (rmdir(dir) == 0 || errno != EBUSY))
            break;
        sleep_ms(5); /* the killed processes leave the cgroup as they exit */
    }
}

/* Each command in a cgroup of its own, cmd.N in the commands' cgroup: what
 * it starts, even after setsid(), is killed when it ends or is killed
 * (cgroup.kill), as its process group is. The emptied cgroups are removed
 * at the next sweep (their processes take a moment to go). */
static unsigned cg_next;             /* the last N given */
static unsigned cg_pending[64];      /* killed, not removed yet */
static int n_cg_pending;

static void cmd_cgroup_path(unsigned id, const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/cmd.%u%s%s", cg_dir, id, file ? "/" : "", file ? file : "");
}

static void cmd_cgroup_sweep(void)
{
    for (int i = 0; i < n_cg_pending;) {
        char dir[600];
        cmd_cgroup_path(cg_pending[i], NULL, dir, sizeof dir);
        if (rmdir(dir) == 0 || errno != EBUSY)
            cg_pending[i] = cg_pending[--n_cg_pending];
        else
            i++;
    }
}

/* A new command's cgroup: its id, *procs_fd its cgroup.procs; 0 (and -1)
 * if none could be made (the command then runs in the commands' cgroup). */
static unsigned cmd_cgroup_new(int *procs_fd)
{
    *procs_fd = -1;
    if (!cg_dir[0])
        return 0;
    cmd_cgroup_sweep();
    unsigned id = ++cg_next ? cg_next : ++cg_next;
    char path[600];
    cmd_cgroup_path(id, NULL, path, sizeof path);
    if (mkdir(path, 0755) < 0) {
        LOG(LOG_WARN, "cannot create %s: %s: the command runs in the commands' cgroup", path, strerror(errno));
        return 0;
    }
    cmd_cgroup_path(id, "cgroup.procs", path, sizeof path);
    *procs_fd = open(path, O_WRONLY | O_CLOEXEC);
    if (*procs_fd < 0) {
        cmd_cgroup_path(id, NULL, path, sizeof path);
        rmdir(path);
        return 0;
    }
    return id;
}

/* Kills what is left in p's cgroup and removes it (now or at a sweep). */
static void cmd_cgroup_end(runner_proc *p)
{
    if (!p->cgroup)
        return;
    char path[600];
    cmd_cgroup_path(p->cgroup, "cgroup.kill", path, sizeof path);
    (void)write_file(path, "1");
    cmd_cgroup_path(p->cgroup, NULL, path, sizeof path);
    if (rmdir(path) < 0 && errno == EBUSY) {
        if (n_cg_pending == (int)(sizeof cg_pending / sizeof cg_pending[0]))
            n_cg_pending--; /* forget the oldest-but-one: the slave's cgroup takes it at the end */
        cg_pending[n_cg_pending++] = p->cgroup;
    }
    p->cgroup = 0;
}

/* ------------------------------------------------------------ marker --- */

/* Every command's environment carries SMP_JOB=<the slave's boot id, 16 hex
 * digits>.<the command's number>: what a command leaves behind keeps it
 * through setsid(), and so can be found without a cgroup (HTCondor's procd
 * tracks a job's processes by such a marker). */
#define MARKER_NAME "SMP_JOB="
static char life_prefix[32];    /* "<the slave's boot id>.": a marker of this life starts so */
static uint64_t cmd_numbers;    /* the last command number given */

/* How much of a process's environment is read for its marker. The slave
 * puts it first, and a shell that re-exports it puts it among a few
 * kilobytes; a command may leave hundreds of processes of 6 MB of
 * environment each, which every sweep would read in the slave's loop. */
#define MARKER_READ_MAX (16 * 1024)

/* The marker in process pid's environment: 1 with *cmd its command's
 * number if it is one of this life's, 0 if it has none of ours (none, of
 * another life, none in its first MARKER_READ_MAX bytes, or an
 * environment we may not read: another uid, not dumpable), -1 if the
 * process is gone. Reads the environment in chunks; the first SMP_JOB
 * counts, as getenv's. */
static int read_marker(pid_t pid, uint64_t *cmd)
{
    char path[64], buf[4096], value[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? -1 : 0;
    static const char name[] = MARKER_NAME;
    size_t at = 0;       /* bytes of the current entry matched against name, then of value */
    int in_value = 0, skipping = 0, found = 0;
    size_t vlen = 0;
    ssize_t n = 1;
    size_t read_so_far = 0;
    while (!found && read_so_far < MARKER_READ_MAX && (n = read(fd, buf, sizeof buf)) > 0) {
        read_so_far += (size_t)n;
        for (ssize_t i = 0; i < n && !found; i++) {
            char c = buf[i];
            if (c == '\0') {
                if (in_value) {
                    found = 1;
                    break;
                }
                at = 0, skipping = 0;
                continue;
            }
            if (skipping)
                continue;
            if (in_value) {
                if (vlen + 1 < sizeof value)
                    value[vlen++] = c;
                else
                    skipping = 1, in_value = 0, found = -1; /* too long: not a marker of ours */
                continue;
            }
            if (c != name[at]) {
                skipping = 1;
                continue;
            }
            if (++at == sizeof name - 1)
                in_value = 1;
        }
    }
    if (in_value && !found && n == 0)
        found = 1; /* the last entry, without its NUL (not one cut at MARKER_READ_MAX) */
    close(fd);
    if (found != 1)
        return 0;
    value[vlen] = 0;
    size_t pl = strlen(life_prefix);
    if (strncmp(value, life_prefix, pl) != 0 || !value[pl])
        return 0;
    char *end;
    errno = 0;
    unsigned long long number = strtoull(value + pl, &end, 10);
    if (*end || errno)
        return 0;
    *cmd = number;
    return 1;
}

/* Process pid's state letter, parent, process group and session from
 * /proc/PID/stat (readable whoever the process is): 0, or -1 if it is gone. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, pid_t *sid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return -1;
    line[n] = 0;
    const char *after = strrchr(line, ')'); /* the name may hold anything, ')' too */
    int pp, pg, se;
    char st;
    if (!after || sscanf(after + 1, " %c %d %d %d", &st, &pp, &pg, &se) != 4)
        return -1;
    *state = st, *ppid = (pid_t)pp, *pgrp = (pid_t)pg, *sid = (pid_t)se;
    return 0;
}

/* Calls fn for every process whose parent is parent (a /proc scan of
 * their PPid): the keeper's view, and the slave's without a children
 * list. */
static void for_each_child_by_scan(pid_t parent, void (*fn)(pid_t))
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(e->d_name), ppid, pgrp, sid;
        char state;
        if (read_stat(pid, &state, &ppid, &pgrp, &sid) == 0 && ppid == parent)
            fn(pid);
    }
    closedir(d);
}

/* Kills pid and, if it leads one, its process group (a setsid() escapee
 * leads its session's). 1 if something was signalled. */
static int kill_escapee(pid_t pid)
{
    int group = kill(-pid, SIGKILL) == 0;
    return kill(pid, SIGKILL) == 0 || group;
}

/* The keeper, once the slave is gone: every process carrying this life's
 * marker, wherever it is now (its parent died: reparented to init). A
 * killed process may have forked meanwhile (its child has the marker
 * too): again until a scan finds none, bounded. */
static void keeper_kill_marked(void)
{
    for (int round = 0; round < 20; round++) {
        int killed = 0;
        DIR *d = opendir("/proc");
        if (!d)
            return;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            pid_t pid = (pid_t)atoi(e->d_name);
            uint64_t cmd;
            if (pid != getpid() && read_marker(pid, &cmd) == 1)
                killed += kill_escapee(pid);
        }
        closedir(d);
        if (!killed)
            return;
        sleep_ms(10); /* the killed ones exit (a zombie's environment reads empty) */
    }
}

static void keeper_run(int fd)
{
    static const int ignored[] = {SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1, SIGUSR2};
    setpgid(0, 0);
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        signal(ignored[i], SIG_IGN);
    signal(SIGCHLD, SIG_DFL); /* a new keeper is forked from the running slave */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
#ifdef __linux__
    prctl(PR_SET_NAME, "esclave-keeper");
#endif
    /* Hold nothing of the slave's open but our socket (and stderr). */
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    for (int f = 0; f < maxfd; f++)
        if (f != fd && f != 2)
            close(f);
    pgid_set set = {NULL, 0, 0};
    for (;;) {
        int32_t rec;
        ssize_t r = recv(fd, &rec, sizeof rec, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof rec)
            break; /* EOF: the slave is gone */
        if (pgid_set_apply(&set, rec) < 0) /* cannot remember it: kill it at once rather than let it outlive us */
            kill(-(pid_t)rec, SIGKILL);
    }
    for (size_t i = 0; i < set.n; i++)
        kill(-set.v[i], SIGKILL);
    if (cg_dir[0])
        cgroup_kill_and_remove(cg_dir);
#ifdef __linux__
    keeper_kill_marked(); /* what left its group with setsid(), where no cgroup holds it */
#endif
    _exit(0);
}

#ifdef __linux__
/* Our PID namespace (its inode): a pid names a slave only in it. */
static unsigned long pid_ns_id(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* The cgroups of slaves that died with their keeper (pkill -9 -f) next to
 * ours, named smp-esclave.PID-PIDNS: what is left in them escaped its
 * slave, kill it. */
static void cgroup_remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "smp-esclave.", 12) != 0)
            continue;
        long pid = strtol(e->d_name + 12, &end, 10);
        if (*end != '-' || strtoul(end + 1, &end, 10) != pid_ns_id() || *end)
            continue; /* not ours to judge: another PID namespace */
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its slave (or a process with its pid) lives */
        char dir[600];
        int n = snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name);
        if (n < 0 || (size_t)n >= sizeof dir)
            continue;
        LOG(LOG_WARN, "removing %s, left by a slave that died with its keeper", dir);
        cgroup_kill_and_remove(dir);
    }
    closedir(d);
}

/* A cgroup (v2) of the slave's own for its commands, if it may make one:
 * <its cgroup>/smp-esclave.<pid>-<pid namespace>. 0, or -1 with the
 * reason in why. */
static int cgroup_setup(char *why, size_t whylen)
{
    char line[1024], rel[512] = "", root[512] = "", mnt[512] = "";
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) {
        snprintf(why, whylen, "/proc/self/cgroup: %s", strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%511s", rel) == 1)
            break;
    fclose(f);
    if (!rel[0]) {
        snprintf(why, whylen, "the slave is in no cgroup v2 hierarchy");
        return -1;
    }
    f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        snprintf(why, whylen, "/proc/self/mountinfo: %s", strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        const char *sep = strstr(line, " - cgroup2 ");
        if (sep && sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) == 2)
            break;
        mnt[0] = 0;
    }
    fclose(f);
    if (!mnt[0]) {
        snprintf(why, whylen, "no cgroup v2 file system is mounted");
        return -1;
    }
    size_t rl = strlen(root);
    const char *sub = rel;
    if (strcmp(root, "/") != 0) {
        if (strncmp(rel, root, rl) != 0 || (rel[rl] && rel[rl] != '/')) {
            snprintf(why, whylen, "the slave's cgroup %s is outside the mounted one", rel);
            return -1;
        }
        sub = rel + rl;
    }
    if (strcmp(sub, "/") == 0)
        sub = "";
    int len = snprintf(cg_dir, sizeof cg_dir, "%s%s/smp-esclave.%d-%lu", mnt, sub, (int)getpid(), pid_ns_id());
    if (len < 0 || (size_t)len >= sizeof cg_dir) {
        snprintf(why, whylen, "the path of its cgroup is too long");
        cg_dir[0] = 0;
        return -1;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/cgroup.kill", cg_dir);
    if (mkdir(cg_dir, 0755) < 0) {
        snprintf(why, whylen, "cannot create %s: %s", cg_dir, strerror(errno));
        cg_dir[0] = 0;
        return -1;
    }
    if (access(path, W_OK) < 0) {
        snprintf(why, whylen, "no cgroup.kill (Linux 5.14 or later): %s", strerror(errno));
        rmdir(cg_dir);
        cg_dir[0] = 0;
        return -1;
    }
    snprintf(path, sizeof path, "%s/cgroup.procs", cg_dir);
    cg_procs_fd = open(path, O_WRONLY | O_CLOEXEC);
    /* Try once, with a child, what every command will do. */
    pid_t t = cg_procs_fd < 0 ? -1 : fork();
    if (t == 0)
        _exit(write(cg_procs_fd, "0", 1) == 1 ? 0 : 1);
    int st = -1;
    if (t > 0)
        while (waitpid(t, &st, 0) < 0 && errno == EINTR) {
        }
    if (t < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(why, whylen, "cannot move a process into %s", cg_dir);
        if (cg_procs_fd >= 0)
            close(cg_procs_fd);
        cg_procs_fd = -1;
        rmdir(cg_dir);
        cg_dir[0] = 0;
        return -1;
    }
    /* Our cgroup's parent: cg_dir without "/smp-esclave.PID". */
    char parent[sizeof cg_dir];
    memcpy(parent, cg_dir, sizeof parent);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        cgroup_remove_stale(parent);
    }
    return 0;
}
#endif

/* ------------------------------------------------------------ reaper --- */

/* Without a cgroup, the slave is its commands' subreaper (Linux 3.4):
 * what a command leaves, once its parent ends, becomes the slave's child
 * instead of init's. At a command's end, and whenever the slave reaps a
 * child that is not one of its commands, it sweeps its children: one that
 * is neither a running command nor the keeper is killed (its group: a
 * setsid() escapee leads one) if its marker names a command that has
 * ended, or if it carries none of this life's; one of a command still
 * running is left until that command ends. Their own children then come
 * to the slave, and their reaps sweep again: a whole tree goes, a level
 * each time. Only sweeps on events, no polling. */
static int reaper_on;            /* no cgroup, and PR_SET_CHILD_SUBREAPER took */
static int children_fd = -1;     /* /proc/self/task/<pid>/children, kept open; -1 if the kernel has none */
static int sweep_wanted;
static uint64_t last_sweep_us;
/* Sweeps at most this often: a short command's end costs nothing then
 * (a read of the children list takes some 12 us, 2000 x true would pay
 * it 2000 times), and what it left waits that much longer. Without the
 * children list a sweep scans /proc (about a millisecond for a hundred
 * processes): less often. */
#define SWEEP_GAP_US 20000u
#define SWEEP_SCAN_GAP_US 100000u

/* The running commands: their shell's pid and their number (the marker). */
typedef struct {
    pid_t pid;
    uint64_t number;
} running_cmd;
static running_cmd *running;
static size_t n_running, cap_running;

/* Room for one more, before vfork: 0, or -1 (out of memory). */
static int running_reserve(void)
{
    if (n_running < cap_running)
        return 0;
    size_t ncap = cap_running ? cap_running * 2 : 16;
    running_cmd *nv = realloc(running, ncap * sizeof *nv);
    if (!nv)
        return -1;
    running = nv, cap_running = ncap;
    return 0;
}

/* The command whose shell is pid has ended (reaped): its leftovers go. */
static void running_end(pid_t pid)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i].pid == pid) {
            running[i] = running[--n_running];
            return;
        }
}

static int running_has_pid(pid_t pid)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i].pid == pid)
            return 1;
    return 0;
}

static int running_has_number(uint64_t number)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i].number == number)
            return 1;
    return 0;
}

static void sweep_child(pid_t pid)
{
    uint64_t number;
    if (pid == keeper_pid || running_has_pid(pid))
        return;
    int m = read_marker(pid, &number);
    if (m < 0 || (m == 1 && running_has_number(number)))
        return; /* gone, or its command still runs */
    pid_t ppid, pgrp, sid;
    char state;
    if (m == 0 && read_stat(pid, &state, &ppid, &pgrp, &sid) == 0 &&
        (state == 'Z' || state == 'X' || running_has_pid(pgrp) || running_has_pid(sid)))
        return; /* no marker we can read (cleared, or not dumpable), but in a running command's session;
                 * or a zombie (whose environment reads empty): its reap sweeps again, and a kill of its
                 * group would take what a running command has in it */
    static log_limiter kill_log;
    if (!kill_escapee(pid) && errno == EPERM && log_allow(&kill_log))
        LOG(LOG_WARN, "cannot kill process %d left by a command: %s", (int)pid, strerror(errno));
}

/* The slave's children from its children list (one small read: the
 * file is made anew at each read from its start). 0, or -1 if it cannot
 * be read. */
static int sweep_children_list(void)
{
    char buf[4096];
    long pid = 0;
    int digits = 0;
    ssize_t n;
    off_t at = 0;
    for (; (n = pread(children_fd, buf, sizeof buf, at)) > 0; at += n)
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                if (pid < 100000000) /* pids are below 2^22 */
                    pid = pid * 10 + (buf[i] - '0');
                digits = 1;
                continue;
            }
            if (digits)
                sweep_child((pid_t)pid);
            pid = 0, digits = 0;
        }
    if (digits)
        sweep_child((pid_t)pid);
    return n < 0 && at == 0 ? -1 : 0;
}

static void sweep_want(void)
{
    sweep_wanted = reaper_on;
}

uint64_t runner_sweep_tick(uint64_t now_us)
{
    if (!sweep_wanted)
        return 0;
    uint64_t gap = children_fd >= 0 ? SWEEP_GAP_US : SWEEP_SCAN_GAP_US;
    if (last_sweep_us && elapsed(now_us, last_sweep_us) < gap)
        return last_sweep_us + gap;
    sweep_wanted = 0;
    last_sweep_us = now_us;
    if (children_fd < 0 || sweep_children_list() < 0)
        for_each_child_by_scan(getpid(), sweep_child);
    return 0;
}

#ifdef __linux__
/* The slave becomes its commands' subreaper; 0, or -1 with why. */
static int reaper_setup(char *why, size_t whylen)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        snprintf(why, whylen, "no subreaper (PR_SET_CHILD_SUBREAPER, Linux 3.4): %s", strerror(errno));
        return -1;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    children_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (children_fd < 0)
        snprintf(why, whylen, "; no %s (CONFIG_PROC_CHILDREN): a scan of /proc at most every %u ms", path,
                 SWEEP_SCAN_GAP_US / 1000);
    else
        why[0] = 0;
    reaper_on = 1;
    return 0;
}
#endif

/* ------------------------------------------------------------ limits --- */

static runner_limits limits = {1, RUNNER_DEFAULT_PROCS, 0, 0, RUNNER_DEFAULT_FILES};

void runner_set_limits(const runner_limits *l)
{
    limits = *l;
}

/* What every command's child sets before exec, made once by runner_init
 * (the vfork child only calls setrlimit: lowering a limit cannot fail). */
static struct {
    int resource;
    struct rlimit lim;
} child_rlimits[5];
static int n_child_rlimits;

/* Plans resource at soft/hard (RLIM_INFINITY: as it is), never above the
 * slave's own hard limit. The soft limit planned, or RLIM_INFINITY. */
static rlim_t plan_rlimit(int resource, const char *name, rlim_t soft, rlim_t hard)
{
    struct rlimit cur;
    if (getrlimit(resource, &cur) < 0) {
        LOG(LOG_WARN, "getrlimit(%s): %s: commands get the slave's own", name, strerror(errno));
        return RLIM_INFINITY;
    }
    if (hard == RLIM_INFINITY || (cur.rlim_max != RLIM_INFINITY && hard > cur.rlim_max))
        hard = cur.rlim_max;
    if (soft == RLIM_INFINITY || (hard != RLIM_INFINITY && soft > hard))
        soft = hard;
    child_rlimits[n_child_rlimits].resource = resource;
    child_rlimits[n_child_rlimits].lim = (struct rlimit){soft, hard};
    n_child_rlimits++;
    return soft;
}

#ifdef __linux__
/* pids.max of the commands' cgroup: what slots x --max-procs allow them
 * together (the cgroup is the slave's, shared by its commands). Its
 * parent, the slave's own cgroup, must give it the pids controller: one
 * with processes in it (the slave) cannot, unless it is the root. 0, or
 * -1 with the reason in why. */
static int cgroup_pids(uint64_t max, char *why, size_t whylen)
{
    char path[600], parent[sizeof cg_dir];
    snprintf(path, sizeof path, "%s/pids.max", cg_dir);
    if (access(path, W_OK) < 0) {
        memcpy(parent, cg_dir, sizeof parent);
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = 0;
        char ctl[600], line[512] = "";
        snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", parent);
        FILE *f = fopen(ctl, "re");
        if (f) {
            if (!fgets(line, sizeof line, f))
                line[0] = 0;
            fclose(f);
        }
        char *at = strstr(line, "pids");
        if (!at || (at > line && at[-1] != ' ') || (at[4] && at[4] != ' ' && at[4] != '\n')) {
            snprintf(why, whylen, "the pids controller is not available in %s (cgroup v1 has it, or it is not "
                     "delegated)", parent);
            return -1;
        }
        snprintf(ctl, sizeof ctl, "%s/cgroup.subtree_control", parent);
        int e = write_file(ctl, "+pids");
        if (e) {
            snprintf(why, whylen, "cannot enable the pids controller in %s: %s", ctl, strerror(e));
            return -1;
        }
        if (access(path, W_OK) < 0) {
            snprintf(why, whylen, "no %s: %s", path, strerror(errno));
            return -1;
        }
    }
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)max);
    int e = write_file(path, v);
    if (e) {
        snprintf(why, whylen, "cannot write %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}
#endif

/* Plans the commands' limits and says them in one line. */
static void limits_setup(void)
{
    char procs[300] = "no process limit", pids[200] = "";
    n_child_rlimits = 0;
    if (limits.procs) {
        uint64_t together = (uint64_t)limits.slots * limits.procs;
#ifdef __linux__
        char why[700];
        if (!cg_dir[0])
            snprintf(pids, sizeof pids, "; no pids.max: no cgroup");
        else if (cgroup_pids(together, why, sizeof why) == 0)
            snprintf(pids, sizeof pids, "; pids.max %llu on the commands' cgroup", (unsigned long long)together);
        else {
            LOG(LOG_WARN, "no pids.max for the commands' cgroup (%s): only RLIMIT_NPROC bounds their processes",
                why);
            snprintf(pids, sizeof pids, "; no pids.max");
        }
#endif
        /* RLIMIT_NPROC counts every process of the user: the commands'
         * together, and some room left for the slave's own forks below
         * the slave's limit (else one fork bomb stops every command). */
        rlim_t want = (rlim_t)together + 64, room = (rlim_t)limits.slots + 16;
        struct rlimit cur;
        if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY && want + room > cur.rlim_cur)
            want = cur.rlim_cur > 2 * room ? cur.rlim_cur - room : cur.rlim_cur / 2 + 1;
        rlim_t got = plan_rlimit(RLIMIT_NPROC, "RLIMIT_NPROC", want, want);
        snprintf(procs, sizeof procs, "%u processes (RLIMIT_NPROC %llu for the user's commands together%s%s)", limits.procs,
                 (unsigned long long)got, geteuid() == 0 ? ", root exempt" : "", pids);
    }
    char files[64] = "open files as the slave's", cpu[64] = "no CPU limit", mem[64] = "no memory limit";
    if (limits.files) {
        rlim_t got = plan_rlimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.files, limits.files);
        snprintf(files, sizeof files, "%llu open files", (unsigned long long)got);
    }
    if (limits.cpu_s) {
        /* SIGXCPU at the soft limit, SIGKILL a second later */
        rlim_t got = plan_rlimit(RLIMIT_CPU, "RLIMIT_CPU", limits.cpu_s, (rlim_t)limits.cpu_s + 1);
        snprintf(cpu, sizeof cpu, "%llu s of CPU", (unsigned long long)got);
    }
    if (limits.memory) {
        rlim_t got = plan_rlimit(RLIMIT_AS, "RLIMIT_AS", (rlim_t)limits.memory, (rlim_t)limits.memory);
        snprintf(mem, sizeof mem, "%llu MiB of memory", (unsigned long long)(got >> 20));
    }
    plan_rlimit(RLIMIT_CORE, "RLIMIT_CORE", 0, RLIM_INFINITY); /* no core files on the slave's disk */
    LOG(LOG_INFO, "limits per command: %s, %s, %s, %s, no core files", procs, files, cpu, mem);
}

/* Forks the keeper and tells it the groups already running (a new one). */
static void keeper_start(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        LOG(LOG_ERROR, "no keeper (socketpair: %s): commands' children may outlive a killed slave",
            strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        keeper_run(sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
        LOG(LOG_ERROR, "no keeper (fork: %s): commands' children may outlive a killed slave", strerror(errno));
        close(sv[0]);
        return;
    }
    keeper_fd = sv[0];
    keeper_pid = pid;
    for (size_t i = 0; i < live.n; i++) {
        int32_t rec = (int32_t)live.v[i];
        if (send(keeper_fd, &rec, sizeof rec, MSG_NOSIGNAL) != (ssize_t)sizeof rec)
            LOG(LOG_ERROR, "cannot tell the new keeper about process group %d: %s", (int)rec, strerror(errno));
    }
}

void runner_init(uint64_t boot)
{
    snprintf(life_prefix, sizeof life_prefix, "%016llx.", (unsigned long long)boot);
    char why[700] = "not Linux";
#ifdef __linux__
    if (cgroup_setup(why, sizeof why) == 0)
        LOG(LOG_INFO, "commands run in cgroup %s: whatever they start dies with this slave, even after setsid()",
            cg_dir);
    else {
        char how[200];
        if (reaper_setup(how, sizeof how) == 0)
            LOG(LOG_INFO, "no cgroup for commands (%s): what a command leaves is found by its SMP_JOB and killed "
                "with it (the slave is its commands' subreaper%s)", why, how);
        else
            LOG(LOG_INFO, "no cgroup for commands (%s), %s: a process that calls setsid() and leaves its "
                "command's process group outlives it (the keeper still kills it with the slave, by its SMP_JOB)",
                why, how);
    }
#else
    LOG(LOG_INFO, "no cgroup for commands (%s): a process that calls setsid() and leaves its command's "
        "process group outlives it", why);
#endif
    limits_setup();
    keeper_start();
}

void runner_shutdown(void)
{
    if (keeper_fd < 0)
        return;
    close(keeper_fd); /* the keeper kills what is left, then exits */
    keeper_fd = -1;
    while (waitpid(keeper_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    keeper_pid = -1;
    free(live.v);
    live = (pgid_set){NULL, 0, 0};
    free(running);
    running = NULL, n_running = cap_running = 0;
    if (children_fd >= 0)
        close(children_fd);
    children_fd = -1;
}

/* ----------------------------------------------------------- running --- */

/* Whether the NAME= of entry is the NAME= of def (NAME=VALUE). */
static int same_name(const char *entry, const char *def)
{
    size_t name = strcspn(def, "=") + 1; /* NAME= */
    return strncmp(entry, def, name) == 0;
}

/* The command's environment: its marker first (the slave's own SMP_JOB, if
 * it runs under another slave, and a client's --env SMP_JOB do not count),
 * then the slave's, less the names place sets, then place's NAME=VALUE
 * (made before vfork: the child shares our memory and must not touch
 * environ). NULL: out of memory. */
static char **command_environ(const runner_place *place, char *marker)
{
    size_t n = 0, k = 0;
    unsigned nenv = place ? place->nenv : 0;
    while (environ[n])
        n++;
    char **envp = malloc((n + nenv + 2) * sizeof *envp);
    if (!envp)
        return NULL;
    envp[k++] = marker;
    for (size_t i = 0; i < n; i++) {
        int replaced = same_name(environ[i], marker);
        for (unsigned e = 0; e < nenv && !replaced; e++)
            replaced = same_name(environ[i], place->env[e]);
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (unsigned e = 0; e < nenv; e++)
        if (!same_name(place->env[e], marker))
            envp[k++] = (char *)place->env[e];
    envp[k] = NULL;
    return envp;
}

/* In the child (vfork): only write(2) and _exit. */
static void say_no_dir(const char *wd, int e)
{
    static const char head[] = "serveur_esclave: --wd: cannot chdir to ";
    const char *why = strerror(e);
    if (write(2, head, sizeof head - 1) < 0 || write(2, wd, strlen(wd)) < 0 || write(2, ": ", 2) < 0 ||
        write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0) {
    }
}

static int spawn(runner_proc *p, const char *command, char *const *words, char **envp, const char *wd,
                 uint32_t output_cap, uint32_t timeout_ms, char *err, size_t errlen);

/* --allow: argv[0] as execvp would find it, in envp's PATH, before vfork
 * (the child must not allocate); 0, or -1 if nothing is found. Only the
 * absolute directories of PATH: an empty element or a relative one is the
 * slave's current directory, where a listed name could be any file. */
static int find_program(const char *name, char **envp, char *out, size_t outlen)
{
    if (strchr(name, '/')) /* a path: as a shell, 127 if there is nothing there */
        return snprintf(out, outlen, "%s", name) < (int)outlen && access(out, F_OK) == 0 ? 0 : -1;
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char **e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    if (!*name)
        return -1;
    for (const char *d = path;; d++) {
        size_t n = strcspn(d, ":");
        struct stat st;
        int len = snprintf(out, outlen, "%.*s/%s", (int)n, d, name);
        if (n && *d == '/' && len > 0 && (size_t)len < outlen && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0)
            return 0;
        d += n;
        if (!*d)
            return -1;
    }
}

int runner_start(runner_proc *p, const char *command, const runner_place *place, uint32_t output_cap,
                 uint32_t timeout_ms, char *err, size_t errlen)
{
    uint64_t number = ++cmd_numbers;
    char marker[64];
    snprintf(marker, sizeof marker, MARKER_NAME "%s%llu", life_prefix, (unsigned long long)number);
    char **envp = running_reserve() == 0 ? command_environ(place, marker) : NULL;
    if (!envp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = spawn(p, command, place ? place->argv : NULL, envp, place ? place->wd : NULL, output_cap, timeout_ms,
                   err, errlen);
    free(envp);
    if (rc == 0)
        running[n_running++] = (running_cmd){(pid_t)p->pid, number};
    return rc;
}

static int spawn(runner_proc *p, const char *command, char *const *words, char **envp, const char *wd,
                 uint32_t output_cap, uint32_t timeout_ms, char *err, size_t errlen)
{
    int out[2], errp[2];
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
    bw_init(&p->out, output_cap);
    bw_init(&p->err, output_cap);
    char program[4096];
    if (words && find_program(words[0], envp, program, sizeof program) < 0) {
        snprintf(err, errlen, "serveur_esclave: %s: command not found", words[0]);
        return RUNNER_NOT_FOUND;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return -1;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int cmd_cg_fd;
    unsigned cg = cmd_cgroup_new(&cmd_cg_fd);
    int cg_fd = cg ? cmd_cg_fd : cg_procs_fd;
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    /* No signal handler may run in the child before execve: it would share
     * our memory (vfork). The child restores the defaults it needs. */
    sigprocmask(SIG_SETMASK, &all, &old);
    /* The run time includes starting the shell (vfork returns only once
     * the child has exec'd). */
    p->start_us = clock_us();
    p->start_wall_ms = wall_ms();
    pid_t pid = vfork();
    if (pid == 0) {
        /* A session of its own, hence a process group of its own (whose id
         * is the pid) with no terminal: an orphaned group, in which the
         * kernel discards SIGTSTP, SIGTTIN and SIGTTOU, so that nothing of
         * the command stops waiting for a terminal it does not have. */
        setsid();
        if (cg_fd >= 0 && write(cg_fd, "0", 1) < 0) { /* stays out of the cgroup: the group kill still works */
        }
        for (int i = 0; i < n_child_rlimits; i++) /* the slave's limits (runner_set_limits) */
            setrlimit(child_rlimits[i].resource, &child_rlimits[i].lim);
#ifdef __linux__
        /* If the slave dies (kill -9), its commands die with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
#endif
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        if (wd && chdir(wd) < 0) { /* as `cd DIR || exit 255` (GNU parallel's --wd on a remote) */
            say_no_dir(wd, errno);
            _exit(RUNNER_NO_DIR_EXIT);
        }
        if (words) { /* --allow: the words, without a shell; as a shell, 126 if it cannot be run */
            execve(program, words, envp);
            const char *why = strerror(errno);
            if (write(2, "serveur_esclave: ", 17) < 0 || write(2, program, strlen(program)) < 0 ||
                write(2, ": ", 2) < 0 || write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0) {
            }
            _exit(126);
        }
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (cg)
        close(cmd_cg_fd);
    p->cgroup = cg;
    if (devnull >= 0)
        close(devnull);
    close(out[1]);
    close(errp[1]);
    if (pid < 0) {
        snprintf(err, errlen, "vfork: %s", strerror(saved));
        close(out[0]);
        close(errp[0]);
        cmd_cgroup_end(p);
        return -1;
    }
    /* No setpgid(pid, pid) here: vfork returned, so the child has already
     * made its session (and a session leader's group cannot be changed). */
    keeper_tell((int32_t)pid);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = errp[0];
    p->out_open = p->err_open = 1;
    if (timeout_ms)
        p->deadline_us = p->start_us + (uint64_t)timeout_ms * 1000u;
    return 0;
}

static void runner_read(runner_proc *p, int fd)
{
    int is_out = fd == p->out_fd;
    bwriter *w = is_out ? &p->out : &p->err;
    int *trunc = is_out ? &p->out_truncated : &p->err_truncated;
    uint8_t buf[65536];
    for (int i = 0; i < 16; i++) { /* bounded: other fds get their turn */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            size_t room = w->limit - w->len;
            size_t keep = (size_t)n < room ? (size_t)n : room;
            bw_bytes(w, buf, keep);
            if (keep < (size_t)n)
                *trunc = 1; /* keep draining so the command is not blocked */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(fd); /* EOF or error */
        if (is_out)
            p->out_fd = -1, p->out_open = 0;
        else
            p->err_fd = -1, p->err_open = 0;
        return;
    }
}

int runner_poll_fds(const runner_proc *p, net_pollfd *out, int max)
{
    int n = 0;
    if (p->out_open && n < max)
        out[n++] = (net_pollfd){p->out_fd, NET_IN, 0};
    if (p->err_open && n < max)
        out[n++] = (net_pollfd){p->err_fd, NET_IN, 0};
    return n;
}

void runner_on_ready(runner_proc *p, sock_t fd)
{
    if ((p->out_open && fd == p->out_fd) || (p->err_open && fd == p->err_fd))
        runner_read(p, fd);
}

void runner_kill(runner_proc *p)
{
    if (p->pid > 0)
        kill(-(pid_t)p->pid, SIGKILL);
    cmd_cgroup_end(p);
}

void runner_kill_and_wait(runner_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(-(pid_t)p->pid, SIGKILL);
    keeper_tell(-(int32_t)p->pid); /* before the reap: the id cannot be reused yet */
    while (waitpid((pid_t)p->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    running_end((pid_t)p->pid);
    sweep_want();
    p->pid = 0;
    cmd_cgroup_end(p);
}

void runner_after_exit(runner_proc *p)
{
    cmd_cgroup_end(p); /* what it left, setsid() escapees too; its group went in runner_reap */
}

/* The command's pipes, whatever is still open of them. */
static void close_outputs(runner_proc *p)
{
    if (p->out_open)
        close(p->out_fd);
    if (p->err_open)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    p->out_open = p->err_open = 0;
}

/* A command past its timeout gets what GNU parallel's --termseq gives by
 * default: TERM, and again after 200 ms and 100 ms, then KILL 50 ms
 * later; a command that handles TERM may end in its own way (its result
 * says timed out, with its exit code or signal). To the process group:
 * what the shell started gets them too. */
static const struct { int sig; uint32_t then_ms; } term_seq[] = {
    {SIGTERM, 200}, {SIGTERM, 100}, {SIGTERM, 50}, {SIGKILL, 0}};

void runner_tick(runner_proc *p, uint64_t now_us)
{
    if (!p->exited && p->deadline_us && now_us >= p->deadline_us && p->pid > 0) {
        int step = p->term_step++;
        p->killed_by_timeout = 1;
        kill(-(pid_t)p->pid, term_seq[step].sig);
        p->deadline_us = term_seq[step].then_ms ? now_us + term_seq[step].then_ms * 1000u : 0;
    }
    if (p->exited && p->drain_deadline_us && now_us >= p->drain_deadline_us)
        close_outputs(p);
}

void runner_free(runner_proc *p)
{
    cmd_cgroup_end(p);
    close_outputs(p);
    bw_free(&p->out);
    bw_free(&p->err);
}

void runner_reap(void (*exited)(void *ctx, long pid, int status), void *ctx)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* Peek first (WNOWAIT): the zombie keeps its pid reserved while we
         * kill whatever its command left running in the group. */
        if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        int status;
        if (si.si_code == CLD_STOPPED || si.si_code == CLD_TRAPPED) {
            /* Take the stop notice (else the peek finds it forever). */
            if (waitpid(si.si_pid, &status, WUNTRACED | WNOHANG) <= 0)
                return;
            if (si.si_pid == keeper_pid) {
                kill(keeper_pid, SIGCONT);
                continue;
            }
            if (WIFSTOPPED(status)) {
                sweep_want(); /* a stopped leftover of a command that ended: killed */
                exited(ctx, si.si_pid, status); /* runner_on_exit: kills it */
                continue;
            }
        } else {
            /* A command's end kills its group. Not a leftover's: as the
             * slave's child (its subreaper) it may be a session leader of a
             * command still running, whose group holds that command's
             * processes; the sweep decides by their markers. */
            if (si.si_pid != keeper_pid && (!reaper_on || running_has_pid(si.si_pid))) {
                kill(-si.si_pid, SIGKILL);
                keeper_tell(-(int32_t)si.si_pid);
            }
            if (waitpid(si.si_pid, &status, 0) < 0)
                return;
            if (si.si_pid != keeper_pid) {
                /* A command's end, or a leftover's (its children came to us): sweep. */
                running_end(si.si_pid);
                sweep_want();
            }
        }
        if (si.si_pid == keeper_pid) {
            close(keeper_fd);
            keeper_fd = -1;
            keeper_pid = -1;
            if (keeper_started_ms && elapsed(clock_ms(), keeper_started_ms) < 1000) {
                LOG(LOG_ERROR, "the keeper died again (status 0x%x) within a second: from now on, what "
                    "commands start may outlive a killed slave", (unsigned)status);
                continue;
            }
            LOG(LOG_ERROR, "the keeper (pid %d) died (status 0x%x): starting another", (int)si.si_pid,
                (unsigned)status);
            keeper_start();
            keeper_started_ms = clock_ms();
            continue;
        }
        exited(ctx, si.si_pid, status);
    }
}

int runner_on_stop(runner_proc *p, int status)
{
    if (!WIFSTOPPED(status))
        return 0;
    /* Nothing can continue it (there is no terminal, no job control):
     * kill it, and say so in its result. */
    if (!p->stopped_by)
        p->stopped_by = WSTOPSIG(status);
    runner_kill(p);
    return 1;
}

void runner_result(const runner_proc *p, CommandResult *r)
{
    if (p->killed_by_timeout) { /* how the TERM sequence ended it: GNU parallel's joblog says the same */
        r->status = RUN_TIMED_OUT;
        r->exit_code = WIFEXITED(p->wait_status) && !p->stopped_by ? WEXITSTATUS(p->wait_status) : -1;
        r->term_signal = (uint8_t)(p->stopped_by ? SIGKILL : WIFSIGNALED(p->wait_status) ? WTERMSIG(p->wait_status) : 0);
    } else if (p->stopped_by) {
        r->status = RUN_SIGNALED;
        r->exit_code = -1;
        r->term_signal = (uint8_t)p->stopped_by;
    } else if (WIFSIGNALED(p->wait_status)) {
        r->status = RUN_SIGNALED;
        r->exit_code = -1;
        r->term_signal = (uint8_t)WTERMSIG(p->wait_status);
    } else {
        r->status = RUN_EXITED;
        r->exit_code = WEXITSTATUS(p->wait_status);
        r->term_signal = 0;
    }
    runner_result_common(p, r);
    if (p->stopped_by && !p->killed_by_timeout) {
        static char why[128]; /* encoded before the next runner_result */
        int s = p->stopped_by;
        const char *name = s == SIGSTOP ? "SIGSTOP" : s == SIGTSTP ? "SIGTSTP" : s == SIGTTIN ? "SIGTTIN"
                           : s == SIGTTOU ? "SIGTTOU" : "a signal";
        snprintf(why, sizeof why, "stopped by %s: killed by the slave (nothing can continue it here)", name);
        r->message = why;
        r->message_len = (uint32_t)strlen(why);
    }
}

size_t runner_output_read(runner_proc *p, int k, uint32_t from, uint8_t *dst, size_t max)
{
    const bwriter *b = k ? &p->err : &p->out;
    if (from >= b->len)
        return 0;
    size_t n = b->len - from < max ? b->len - from : max;
    memcpy(dst, b->data + from, n);
    return n;
}
#endif
