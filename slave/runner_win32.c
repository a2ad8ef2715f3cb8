/* runner_win32.c - running shell commands on Windows (runner.h). */
#ifdef _WIN32
#include "runner.h"
#include "conf.h"
#include "common.h"
#include "platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

/* How long a finished command's pipes may stay open (a process that left
 * its job) before we stop waiting for the end of its output. */
#define PIPE_BYTES 65536 /* as a Linux pipe: a command writing a lot blocks less */
#define READ_CHUNK 16384 /* on the reader's stack */
#define READER_STACK (64 * 1024)
/* CreateProcess takes at most 32,767 characters of command line. */
#define MAX_CMDLINE 32767
/* What a POSIX slave reports for a command it killed (SIGKILL), so that
 * clients show the same whichever slave ran it. */
#define KILLED_SIGNAL 9
#define KILLED_EXIT_CODE 1

/* One of the command's two output pipes, read by a thread of its own. */
typedef struct {
    struct runner_win32 *owner;
    HANDLE pipe;   /* the read end: the thread's */
    bwriter buf;   /* what it read, up to the cap: under lock */
    int truncated; /* under lock */
    int done;      /* the thread saw the end and touches buf no more: under lock */
    int taken;     /* the runner took buf: the rest is read and dropped: under lock */
} stream;

/* Shared between the event loop and the threads, freed by whichever lets
 * go last: a reader may outlive its runner (a process that escaped the job
 * still holds the pipe open) without touching freed memory. */
struct runner_win32 {
    CRITICAL_SECTION lock;
    LONG refs;          /* the runner, and each reader thread still running */
    HANDLE job, process, wait;
    DWORD pid;
    int exit_seen;      /* the process ended: under lock */
    DWORD exit_code;    /* under lock */
    int exit_reported;  /* runner_reap passed it on: event loop only */
    stream s[2];        /* stdout, stderr */
    struct runner_win32 *next, **pprev; /* live runners, for runner_reap: event loop only */
};

static struct runner_win32 *live;

static void release(struct runner_win32 *w)
{
    if (InterlockedDecrement(&w->refs) != 0)
        return;
    DeleteCriticalSection(&w->lock);
    bw_free(&w->s[0].buf);
    bw_free(&w->s[1].buf);
    free(w);
}

static DWORD WINAPI reader_thread(LPVOID arg)
{
    stream *s = arg;
    struct runner_win32 *w = s->owner;
    uint8_t chunk[READ_CHUNK];
    for (;;) {
        DWORD n = 0;
        if (!ReadFile(s->pipe, chunk, sizeof chunk, &n, NULL))
            break; /* ERROR_BROKEN_PIPE: every process holding the write end is gone */
        EnterCriticalSection(&w->lock);
        if (!s->taken) {
            size_t room = s->buf.limit - s->buf.len;
            size_t keep = n < room ? n : room;
            bw_bytes(&s->buf, chunk, keep);
            if (keep < n)
                s->truncated = 1; /* keep draining so the command is not blocked */
        }
        LeaveCriticalSection(&w->lock);
    }
    CloseHandle(s->pipe);
    EnterCriticalSection(&w->lock);
    s->done = 1;
    LeaveCriticalSection(&w->lock);
    signal_events_post(SIGNAL_CHILD);
    release(w);
    return 0;
}

/* Runs on a thread-pool thread when the process ends. */
static VOID CALLBACK on_process_exit(PVOID arg, BOOLEAN timed_out)
{
    struct runner_win32 *w = arg;
    DWORD code = KILLED_EXIT_CODE;
    (void)timed_out;
    GetExitCodeProcess(w->process, &code);
    EnterCriticalSection(&w->lock);
    w->exit_code = code;
    w->exit_seen = 1;
    LeaveCriticalSection(&w->lock);
    signal_events_post(SIGNAL_CHILD);
}

static void say(char *err, size_t errlen, const char *what)
{
    char text[200];
    DWORD code = GetLastError();
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                             MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT), text, sizeof text, NULL);
    while (n > 0 && (text[n - 1] == '\r' || text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '.'))
        n--;
    text[n] = 0;
    snprintf(err, errlen, "%s: %s (error %lu)", what, n ? text : "unknown error", (unsigned long)code);
}

/* "C:\Windows\system32\cmd.exe" /d /s /c "LINE": /s makes cmd.exe take
 * everything between the outer quotes as it is, /d skips AutoRun. The
 * line is UTF-8 if it is valid UTF-8, else the ANSI code page. */
static wchar_t *command_line(const char *command, wchar_t *app, char *err, size_t errlen)
{
    UINT sys = GetSystemDirectoryW(app, MAX_PATH);
    if (sys == 0 || sys + 9 > MAX_PATH) {
        say(err, errlen, "GetSystemDirectory");
        return NULL;
    }
    wcscat(app, L"\\cmd.exe");
    UINT cp = CP_UTF8;
    int n = MultiByteToWideChar(cp, MB_ERR_INVALID_CHARS, command, -1, NULL, 0);
    if (n == 0) {
        cp = CP_ACP;
        n = MultiByteToWideChar(cp, 0, command, -1, NULL, 0);
    }
    if (n == 0) {
        say(err, errlen, "MultiByteToWideChar");
        return NULL;
    }
    /* "app" /d /s /c "LINE" and the NUL: 15 more than app and LINE */
    size_t total = wcslen(app) + (size_t)n + 14;
    if (total > MAX_CMDLINE) {
        snprintf(err, errlen, "command too long for Windows (a command line holds at most %d characters)",
                 MAX_CMDLINE - 15 - (int)wcslen(app));
        return NULL;
    }
    wchar_t *line = malloc(total * sizeof *line);
    if (!line) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int head = swprintf(line, total, L"\"%ls\" /d /s /c \"", app);
    MultiByteToWideChar(cp, 0, command, -1, line + head, n);
    wcscat(line, L"\"");
    return line;
}

/* UTF-8 if it is valid UTF-8, else the ANSI code page, as command lines. */
static wchar_t *widen(const char *s)
{
    UINT cp = CP_UTF8;
    int n = MultiByteToWideChar(cp, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n == 0) {
        cp = CP_ACP;
        n = MultiByteToWideChar(cp, 0, s, -1, NULL, 0);
    }
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w)
        MultiByteToWideChar(cp, 0, s, -1, w, n);
    return w;
}

/* --allow: the words as one command line, without cmd.exe, quoted for
 * the program's C runtime (win_command_line, conf.c). NULL with err set,
 * and *rc RUNNER_REFUSED for words that cannot run so (-1: no memory). */
static wchar_t *argv_line(char *const *words, int *rc, char *err, size_t errlen)
{
    *rc = RUNNER_REFUSED;
    if (strchr(words[0], '"')) {
        snprintf(err, errlen, "serveur_esclave: a program name with '\"' in it cannot run on Windows");
        return NULL;
    }
    /* CreateProcess runs a batch file through cmd.exe, which would read
     * the arguments as its syntax (Windows drops trailing dots and spaces) */
    size_t n = strlen(words[0]);
    while (n > 0 && (words[0][n - 1] == '.' || words[0][n - 1] == ' '))
        n--;
    if (n >= 4 && (_strnicmp(words[0] + n - 4, ".bat", 4) == 0 || _strnicmp(words[0] + n - 4, ".cmd", 4) == 0)) {
        snprintf(err, errlen, "serveur_esclave: %s: a batch file (.bat, .cmd) would run through cmd.exe: not under --allow",
                 words[0]);
        return NULL;
    }
    char *line = win_command_line(words);
    if (!line) {
        snprintf(err, errlen, "out of memory");
        *rc = -1;
        return NULL;
    }
    /* UTF-8 only: widen's fallback, the ANSI code page, may read a byte
     * 0x5c that win_command_line took for '\\' as half of a character
     * (Shift-JIS, GBK, Big5), which changes where the words end */
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, line, -1, NULL, 0) == 0) {
        snprintf(err, errlen, "serveur_esclave: a command that is not valid UTF-8 cannot run under --allow on Windows");
        free(line);
        return NULL;
    }
    wchar_t *wide = widen(line);
    free(line);
    if (!wide) {
        snprintf(err, errlen, "out of memory");
        *rc = -1;
    } else if (wcslen(wide) >= MAX_CMDLINE) {
        snprintf(err, errlen, "serveur_esclave: command too long for Windows (a command line holds at most %d characters)",
                 MAX_CMDLINE - 1);
        free(wide);
        wide = NULL;
    }
    return wide;
}

/* --allow: the program as runner_posix.c finds it: a name with a path as
 * given, else the first match in PATH's absolute directories (NAME, or
 * NAME.exe for a name without an extension). Never the slave's own or the
 * current directory, which CreateProcess searches first: a file planted
 * there under a listed name would run. NULL: nothing found. */
static wchar_t *find_program(const char *name)
{
    wchar_t *wname = widen(name);
    if (wname && *wname && wcspbrk(wname, L"\\/:")) {
        DWORD a = GetFileAttributesW(wname);
        if (a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY))
            return wname;
    }
    if (!wname || !*wname || wcspbrk(wname, L"\\/:")) {
        free(wname);
        return NULL;
    }
    int add_exe = wcschr(wname, L'.') == NULL;
    DWORD n = GetEnvironmentVariableW(L"PATH", NULL, 0);
    wchar_t *path = n ? malloc(n * sizeof *path) : NULL;
    if (path && GetEnvironmentVariableW(L"PATH", path, n) >= n)
        path[0] = 0;
    wchar_t *found = NULL;
    for (wchar_t *d = path, *next; d && *d && !found; d = next) {
        next = wcschr(d, L';');
        if (next)
            *next++ = 0;
        size_t len = wcslen(d);
        if (len >= 2 && d[0] == L'"' && d[len - 1] == L'"') /* a quoted element */
            d[--len] = 0, d++, len--;
        int absolute = (len >= 3 && d[1] == L':' && (d[2] == L'\\' || d[2] == L'/')) ||
                       (len >= 2 && d[0] == L'\\' && d[1] == L'\\');
        if (!next)
            next = d + len;
        if (!absolute)
            continue;
        size_t cap = len + 1 + wcslen(wname) + 5;
        wchar_t *cand = malloc(cap * sizeof *cand);
        if (!cand)
            break;
        swprintf(cand, cap, L"%ls\\%ls%ls", d, wname, add_exe ? L".exe" : L"");
        DWORD a = GetFileAttributesW(cand);
        if (a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY))
            found = cand;
        else
            free(cand);
    }
    free(path);
    free(wname);
    return found;
}

/* --wd: its wide form, or NULL with err set (RUNNER_NO_DIR in *rc when it
 * is not a directory we can enter: the line the command's stderr gets). */
static wchar_t *place_dir(const char *wd, int *rc, char *err, size_t errlen)
{
    wchar_t *w = widen(wd);
    *rc = -1;
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    DWORD a = GetFileAttributesW(w);
    if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY)) {
        char why[200];
        if (a != INVALID_FILE_ATTRIBUTES)
            SetLastError(ERROR_DIRECTORY);
        say(why, sizeof why, "x");
        snprintf(err, errlen, "serveur_esclave: --wd: cannot chdir to %s: %s", wd, why + 3);
        free(w);
        *rc = RUNNER_NO_DIR;
        return NULL;
    }
    return w;
}

/* The command's SMP_JOB marker (runner.h): "<boot id>." of this life. */
static char life_prefix[32];
static unsigned long long cmd_numbers;

/* The command's environment: the slave's less the names set here, then
 * the marker (SMP_JOB=..., which a client's --env cannot set) and place's
 * NAME=VALUE (--env; a Unicode environment block). NULL: out of memory. */
static wchar_t *command_environment(const runner_place *place, const char *marker)
{
    wchar_t *mine = GetEnvironmentStringsW(), *env[MAX_ENV_VARS + 1];
    size_t total = 1, nmine = 0;
    unsigned n = 0, nplace = place ? place->nenv : 0;
    int complete = (env[0] = widen(marker)) != NULL;
    if (complete)
        total += wcslen(env[n++]) + 1;
    for (unsigned i = 0; complete && i < nplace; i++) {
        if (_strnicmp(place->env[i], "SMP_JOB=", 8) == 0)
            continue;
        if (!(env[n] = widen(place->env[i]))) {
            complete = 0;
            break;
        }
        total += wcslen(env[n++]) + 1;
    }
    wchar_t *block = NULL;
    if (complete && mine) {
        for (const wchar_t *e = mine; *e; e += wcslen(e) + 1)
            nmine += wcslen(e) + 1;
        block = malloc((total + nmine) * sizeof *block);
    }
    if (block) {
        wchar_t *at = block;
        for (const wchar_t *e = mine; *e; e += wcslen(e) + 1) {
            const wchar_t *eq = wcschr(e + 1, L'='); /* "=C:=C:\": names may start with '=' */
            size_t name = eq ? (size_t)(eq - e) + 1 : wcslen(e);
            int replaced = 0;
            for (unsigned i = 0; i < n && !replaced; i++)
                replaced = _wcsnicmp(e, env[i], name) == 0; /* names are case-insensitive here */
            if (!replaced) {
                wcscpy(at, e);
                at += wcslen(e) + 1;
            }
        }
        for (unsigned i = 0; i < n; i++) {
            wcscpy(at, env[i]);
            at += wcslen(env[i]) + 1;
        }
        *at = 0;
    }
    for (unsigned i = 0; i < n; i++)
        free(env[i]);
    if (mine)
        FreeEnvironmentStringsW(mine);
    return block;
}

/* Lets go of everything the event loop holds: the job (closing it kills
 * whatever still runs in it), the process, the wait; readers still
 * running drop what they read and free the rest when they end. */
static void discard(struct runner_win32 *w)
{
    if (w->wait)
        UnregisterWaitEx(w->wait, INVALID_HANDLE_VALUE); /* a running callback ends first */
    if (w->pprev) {
        *w->pprev = w->next;
        if (w->next)
            w->next->pprev = w->pprev;
    }
    if (w->job)
        CloseHandle(w->job);
    if (w->process)
        CloseHandle(w->process);
    EnterCriticalSection(&w->lock);
    w->s[0].taken = w->s[1].taken = 1;
    LeaveCriticalSection(&w->lock);
    release(w);
}

static runner_limits limits = {1, RUNNER_DEFAULT_PROCS, 0, 0, RUNNER_DEFAULT_FILES};

void runner_set_limits(const runner_limits *l)
{
    limits = *l;
}

/* --max-procs: processes active in the command's job at once; --max-cpu:
 * user-mode CPU time per process; --max-memory: memory committed per
 * process (no address-space limit here). --max-files has no equivalent. */
static void job_limits(JOBOBJECT_EXTENDED_LIMIT_INFORMATION *l)
{
    if (limits.procs) {
        l->BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
        l->BasicLimitInformation.ActiveProcessLimit = limits.procs;
    }
    if (limits.cpu_s) {
        l->BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_TIME;
        l->BasicLimitInformation.PerProcessUserTimeLimit.QuadPart = (LONGLONG)limits.cpu_s * 10000000;
    }
    if (limits.memory) {
        l->BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_PROCESS_MEMORY;
        l->ProcessMemoryLimit = (SIZE_T)limits.memory;
    }
}

int runner_start(runner_proc *p, const char *command, const runner_place *place, uint32_t output_cap,
                 uint32_t timeout_ms, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    bw_init(&p->out, output_cap);
    bw_init(&p->err, output_cap);
    wchar_t app[MAX_PATH + 16];
    wchar_t *dir = NULL, *environment = NULL;
    int rc = -1;
    if (place && place->wd && !(dir = place_dir(place->wd, &rc, err, errlen)))
        return rc;
    char marker[64];
    snprintf(marker, sizeof marker, "SMP_JOB=%s%llu", life_prefix, ++cmd_numbers);
    if (!(environment = command_environment(place, marker))) {
        snprintf(err, errlen, "out of memory");
        free(dir);
        return -1;
    }
    char *const *words = place ? place->argv : NULL; /* --allow: no cmd.exe */
    wchar_t *line = words ? argv_line(words, &rc, err, errlen) : command_line(command, app, err, errlen);
    if (!line && words) {
        free(dir);
        free(environment);
        return rc;
    }
    rc = -1;
    wchar_t *program = line && words ? find_program(words[0]) : NULL;
    if (line && words && !program) {
        snprintf(err, errlen, "serveur_esclave: %s: command not found", words[0]);
        free(line);
        free(dir);
        free(environment);
        return RUNNER_NOT_FOUND;
    }
    struct runner_win32 *w = line ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        if (line)
            snprintf(err, errlen, "out of memory");
        free(line);
        free(program);
        free(dir);
        free(environment);
        return -1;
    }
    InitializeCriticalSection(&w->lock);
    w->refs = 1;
    for (int i = 0; i < 2; i++) {
        w->s[i].owner = w;
        bw_init(&w->s[i].buf, output_cap);
    }
    /* Only the child's ends are inheritable, and only until CreateProcess
     * returns: every command starts from this thread, so a command never
     * inherits another's pipes. Sockets are never inheritable. */
    SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
    HANDLE child_out = NULL, child_err = NULL, child_in = INVALID_HANDLE_VALUE, thread = NULL;
    int threads = 0; /* readers started: they own their pipes */
    if (!CreatePipe(&w->s[0].pipe, &child_out, &inherit, PIPE_BYTES) ||
        !CreatePipe(&w->s[1].pipe, &child_err, &inherit, PIPE_BYTES)) {
        say(err, errlen, "CreatePipe");
        goto fail;
    }
    SetHandleInformation(w->s[0].pipe, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(w->s[1].pipe, HANDLE_FLAG_INHERIT, 0);
    child_in = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit, OPEN_EXISTING, 0, NULL);
    if (child_in == INVALID_HANDLE_VALUE) {
        say(err, errlen, "open NUL");
        goto fail;
    }
    /* The job is the process group of POSIX: killing it kills the whole
     * tree; closing its last handle too, so if the slave dies (even
     * killed), its commands die with it. */
    w->job = CreateJobObjectW(NULL, NULL);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits;
    memset(&limits, 0, sizeof limits);
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    job_limits(&limits); /* the slave's --max-procs, --max-cpu, --max-memory */
    if (!w->job || !SetInformationJobObject(w->job, JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
        say(err, errlen, "job object");
        goto fail;
    }
    STARTUPINFOW si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = child_in;
    si.hStdOutput = child_out;
    si.hStdError = child_err;
    PROCESS_INFORMATION pi;
    /* The run time includes starting cmd.exe. */
    p->start_us = clock_us();
    p->start_wall_ms = wall_ms();
    /* Suspended until it is in the job, so that nothing it starts escapes;
     * a process group of its own and no console window, so that Ctrl-C on
     * the slave's console reaches the slave only (it kills the commands). */
    BOOL created = CreateProcessW(words ? program : app, line, NULL, NULL, TRUE,
                                  CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW |
                                      (environment ? CREATE_UNICODE_ENVIRONMENT : 0),
                                  environment, dir, &si, &pi);
    free(environment);
    free(dir);
    free(program);
    environment = dir = program = NULL;
    if (!created && words && (GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND)) {
        snprintf(err, errlen, "serveur_esclave: %s: command not found", words[0]);
        rc = RUNNER_NOT_FOUND;
        goto fail;
    }
    if (!created) {
        say(err, errlen, words ? "CreateProcess" : "CreateProcess cmd.exe");
        goto fail;
    }
    w->process = pi.hProcess;
    w->pid = pi.dwProcessId;
    thread = pi.hThread;
    if (!AssignProcessToJobObject(w->job, pi.hProcess)) {
        say(err, errlen, "AssignProcessToJobObject");
        TerminateProcess(pi.hProcess, KILLED_EXIT_CODE);
        goto fail;
    }
    /* Only the child holds the write ends now: the readers see the end of
     * the output when the last process of the command closes them. */
    CloseHandle(child_out);
    CloseHandle(child_err);
    CloseHandle(child_in);
    child_out = child_err = NULL;
    child_in = INVALID_HANDLE_VALUE;
    for (; threads < 2; threads++) {
        InterlockedIncrement(&w->refs);
        HANDLE t = CreateThread(NULL, READER_STACK, reader_thread, &w->s[threads], STACK_SIZE_PARAM_IS_A_RESERVATION,
                                NULL);
        if (!t) {
            InterlockedDecrement(&w->refs);
            say(err, errlen, "CreateThread");
            goto fail;
        }
        CloseHandle(t);
    }
    if (!RegisterWaitForSingleObject(&w->wait, pi.hProcess, on_process_exit, w, INFINITE, WT_EXECUTEONLYONCE)) {
        w->wait = NULL;
        say(err, errlen, "RegisterWaitForSingleObject");
        goto fail;
    }
    ResumeThread(thread);
    CloseHandle(thread);
    free(line);
    w->next = live;
    w->pprev = &live;
    if (live)
        live->pprev = &w->next;
    live = w;
    p->w = w;
    p->pid = (long)w->pid;
    p->out_open = p->err_open = 1;
    if (timeout_ms)
        p->deadline_us = p->start_us + (uint64_t)timeout_ms * 1000u;
    return 0;

fail:
    if (w->job)
        TerminateJobObject(w->job, KILLED_EXIT_CODE); /* started readers then see the end */
    if (thread)
        CloseHandle(thread);
    if (child_out)
        CloseHandle(child_out);
    if (child_err)
        CloseHandle(child_err);
    if (child_in != INVALID_HANDLE_VALUE)
        CloseHandle(child_in);
    for (int i = threads; i < 2; i++)
        if (w->s[i].pipe)
            CloseHandle(w->s[i].pipe);
    free(line);
    free(program);
    free(environment);
    free(dir);
    discard(w);
    return rc;
}

/* Nothing to poll: the threads post SIGNAL_CHILD. */
int runner_poll_fds(const runner_proc *p, net_pollfd *out, int max)
{
    (void)p;
    (void)out;
    (void)max;
    return 0;
}

void runner_on_ready(runner_proc *p, sock_t fd)
{
    (void)p;
    (void)fd;
}

/* Moves stream i's output into p (it ended, or we stop waiting for it);
 * under w->lock. */
static void take_stream(runner_proc *p, int i)
{
    stream *s = &p->w->s[i];
    bwriter *dst = i == 0 ? &p->out : &p->err;
    bw_free(dst);
    *dst = s->buf;
    bw_init(&s->buf, 0);
    s->taken = 1;
    if (i == 0)
        p->out_truncated = s->truncated, p->out_open = 0;
    else
        p->err_truncated = s->truncated, p->err_open = 0;
}

void runner_kill(runner_proc *p)
{
    if (p->w && p->w->job)
        TerminateJobObject(p->w->job, KILLED_EXIT_CODE);
}

void runner_after_exit(runner_proc *p)
{
    (void)p; /* the job object ends with the command (discard) */
}

void runner_kill_and_wait(runner_proc *p)
{
    if (!p->w || p->pid == 0)
        return;
    runner_kill(p);
    WaitForSingleObject(p->w->process, 5000);
    p->w->exit_reported = 1; /* reaped: runner_reap will not report it */
    p->pid = 0;
}

void runner_tick(runner_proc *p, uint64_t now_us)
{
    if (!p->w)
        return;
    EnterCriticalSection(&p->w->lock);
    for (int i = 0; i < 2; i++)
        if ((i == 0 ? p->out_open : p->err_open) && p->w->s[i].done)
            take_stream(p, i);
    if (p->exited && p->drain_deadline_us && now_us >= p->drain_deadline_us) {
        if (p->out_open)
            take_stream(p, 0);
        if (p->err_open)
            take_stream(p, 1);
    }
    LeaveCriticalSection(&p->w->lock);
    if (!p->exited && p->deadline_us && now_us >= p->deadline_us && !p->killed_by_timeout) {
        p->killed_by_timeout = 1;
        p->deadline_us = 0; /* no signals here: the job dies at once */
        runner_kill(p);
    }
}

void runner_free(runner_proc *p)
{
    if (p->w)
        discard(p->w);
    p->w = NULL;
    p->out_open = p->err_open = 0;
    bw_free(&p->out);
    bw_free(&p->err);
}

/* The job object already kills every process of the command when the
 * slave dies (its last handle closes); a process cannot stop itself. */
void runner_init(uint64_t boot)
{
    snprintf(life_prefix, sizeof life_prefix, "%016llx.", (unsigned long long)boot);
    char cpu[64] = "no CPU limit", mem[64] = "no memory limit", procs[64] = "no process limit";
    if (limits.procs)
        snprintf(procs, sizeof procs, "%u processes", limits.procs);
    if (limits.cpu_s)
        snprintf(cpu, sizeof cpu, "%u s of CPU", limits.cpu_s);
    if (limits.memory)
        snprintf(mem, sizeof mem, "%llu MiB of memory", (unsigned long long)(limits.memory >> 20));
    LOG(LOG_INFO, "limits per command (its job object): %s, %s, %s; open files: not limited on Windows", procs, cpu,
        mem);
}

void runner_shutdown(void)
{
}

uint64_t runner_sweep_tick(uint64_t now_us)
{
    (void)now_us; /* the job object holds every process of a command */
    return 0;
}

int runner_on_stop(runner_proc *p, int status)
{
    (void)p;
    (void)status;
    return 0;
}

void runner_reap(void (*exited)(void *ctx, long pid, int status), void *ctx)
{
    for (struct runner_win32 *w = live, *next; w; w = next) {
        next = w->next;
        if (w->exit_reported)
            continue;
        EnterCriticalSection(&w->lock);
        int seen = w->exit_seen;
        DWORD code = w->exit_code;
        LeaveCriticalSection(&w->lock);
        if (!seen)
            continue;
        w->exit_reported = 1;
        /* What the command left running dies with it, as on POSIX. */
        TerminateJobObject(w->job, KILLED_EXIT_CODE);
        exited(ctx, (long)w->pid, (int)code);
    }
}

void runner_result(const runner_proc *p, CommandResult *r)
{
    if (p->killed_by_timeout) {
        r->status = RUN_TIMED_OUT;
        r->exit_code = -1;
        r->term_signal = KILLED_SIGNAL;
    } else {
        /* No signals on Windows: a crash is an exit code (0xC0000005...). */
        r->status = RUN_EXITED;
        r->exit_code = (int32_t)(uint32_t)p->wait_status;
        r->term_signal = 0;
    }
    runner_result_common(p, r);
}

size_t runner_output_read(runner_proc *p, int k, uint32_t from, uint8_t *dst, size_t max)
{
    struct runner_win32 *w = p->w;
    size_t n = 0;
    if (!w)
        return 0;
    EnterCriticalSection(&w->lock);
    stream *s = &w->s[k ? 1 : 0];
    if (!s->taken && from < s->buf.len) {
        n = s->buf.len - from < max ? s->buf.len - from : max;
        memcpy(dst, s->buf.data + from, n);
    }
    LeaveCriticalSection(&w->lock);
    return n;
}
#endif
