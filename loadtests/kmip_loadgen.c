/*
 * kmip_loadgen: the closed-loop KMIP load of loadtests/loadgen.py, in one C process.
 *
 * Why: on a small machine the load generator shares the cores with the servers it measures.
 * The Python generator costs about 110 us of CPU per request (TLS through the event loop's
 * memory BIOs, a callback and a check in Python); this one about 45, most of it the kernel's
 * loopback TCP, so more of the machine goes to the server under test. Both generators send the same request bytes, check
 * the same things in every response and report the same statistics; loadgen.run_load starts
 * either (LoadSpec.generator) and this program is built by loadgen.build_c_generator.
 *
 * Usage (started by loadgen.run_load, not by hand):
 *   kmip_loadgen HOST PORT CA CERT KEY SERVER_NAME MAX_TLS CIPHERS REQUEST_FILE OPERATION
 *                CONNECTIONS WARMUP DURATION CONNECT_TIMEOUT RESPONSE_TIMEOUT
 * MAX_TLS is 2 (TLS 1.2) or 3 (TLS 1.3); times are seconds. Protocol on stdin/stdout:
 *   -> "ready <tls version> <cipher>\n"   (or "failed <why>\n" and exit status 1)
 *   <- "go\n"
 *   -> "result <errors> <sent> <cpu seconds in the window>\n"
 *      "error <times> <what>\n" for at most ERROR_SAMPLES distinct problems
 *      "latencies <n>\n" then n native int64 latencies in nanoseconds, inside the window only
 *
 * Invariants (those of loadgen's Python closed loop):
 * - Each connection has one request in flight: send, read the whole response (its 8-byte
 *   header, then its body), check it, send again at once, until the window closes.
 * - A response counts when it is a Response Message for OPERATION whose Result Status is
 *   Success (the items are found by their 8-byte headers at 8-byte boundaries) and it arrives
 *   inside [go + WARMUP, go + WARMUP + DURATION); latency runs from just before the write to
 *   the read that completed the response (CLOCK_MONOTONIC, as Python's perf_counter_ns).
 * - Anything else is an error, counted, never retried: a failed or foreign response, more
 *   bytes than one response, a response over MAX_RESPONSE_SIZE, a lost connection (which then
 *   stops), no response within RESPONSE_TIMEOUT after the window.
 * - Every wait is bounded: connect and handshake by CONNECT_TIMEOUT, the run by the window
 *   plus RESPONSE_TIMEOUT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEADER_SIZE 8
#define MAX_RESPONSE_SIZE (1u << 20) /* as loadgen.MAX_RESPONSE_SIZE */
#define ERROR_SAMPLES 5              /* as loadgen.ERROR_SAMPLES */
#define MAX_ERROR_TEXT 120
#define CONNECT_RETRY_NS 50000000LL /* 50 ms between attempts while the server refuses */
#define MAX_EVENTS 256
#define TAG_RESPONSE_MESSAGE 0x42007B
#define TAG_OPERATION 0x42005C
#define TAG_RESULT_STATUS 0x42007F
#define TYPE_STRUCTURE 0x01
#define TYPE_ENUMERATION 0x05

typedef struct {
    SSL *ssl;
    int fd;
    int looping;          /* sending requests: not stopped, not lost */
    unsigned char *buf;   /* the response being read */
    size_t have;          /* bytes of it in buf */
    size_t cap;
    size_t expected;      /* its whole size, once the header is in (0 before) */
    int64_t sent_at;      /* ns: just before the request was written */
} Conn;

typedef struct {
    char what[MAX_ERROR_TEXT];
    long times;
} ErrorSample;

static const unsigned char *request;
static size_t request_size;
static uint32_t operation;
static int64_t t_start, t_end;
static long errors, sent, open_conns;
static ErrorSample samples[ERROR_SAMPLES];
static int n_samples;
static int64_t *latencies;
static size_t n_latencies, cap_latencies;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *why) {
    printf("failed %s\n", why);
    fflush(stdout);
    exit(1);
}

static void error(const char *what) {
    errors++;
    for (int i = 0; i < n_samples; i++) {
        if (strcmp(samples[i].what, what) == 0) {
            samples[i].times++;
            return;
        }
    }
    if (n_samples < ERROR_SAMPLES) {
        snprintf(samples[n_samples].what, MAX_ERROR_TEXT, "%s", what);
        samples[n_samples].times = 1;
        n_samples++;
    }
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The offset of the first 8-byte-aligned item at or after ``from`` whose header is (tag,
 * Enumeration, length 4), or -1. */
static long find_enum(const unsigned char *m, size_t size, size_t from, uint32_t tag) {
    for (size_t at = (from + 7) & ~(size_t)7; at + 16 <= size; at += 8) {
        if (be32(m + at) == (tag << 8 | TYPE_ENUMERATION) && be32(m + at + 4) == 4)
            return (long)at;
    }
    return -1;
}

/* NULL when ``m`` is a Success response for ``operation``; else what is wrong, written into
 * ``why`` when it needs a number (loadgen.fast_result's checks and words). */
static const char *check(const unsigned char *m, size_t size, char *why, size_t why_size) {
    if (size < HEADER_SIZE || be32(m) != (TAG_RESPONSE_MESSAGE << 8 | TYPE_STRUCTURE))
        return "not a Response Message";
    long at = find_enum(m, size, 0, TAG_OPERATION);
    if (at < 0) return "no Operation in the response";
    if (be32(m + at + 8) != operation) return "response for another operation";
    at = find_enum(m, size, (size_t)at + 16, TAG_RESULT_STATUS);
    if (at < 0) return "no Result Status in the response";
    uint32_t status = be32(m + at + 8);
    if (status != 0) {
        /* loadgen names the status from ttlv.kmip14.ResultStatus */
        snprintf(why, why_size, "Result Status #%u", status);
        return why;
    }
    return NULL;
}

static void stop(Conn *c) {
    if (c->looping) {
        c->looping = 0;
        open_conns--;
    }
}

static void lost(Conn *c, const char *how) {
    if (c->looping) {
        char what[MAX_ERROR_TEXT];
        snprintf(what, sizeof what, "connection lost: %s", how);
        error(what);
        stop(c);
    }
}

/* Write the whole request (small: SSL_write either takes it all or asks to wait). */
static int send_request(Conn *c, int64_t deadline) {
    sent++;
    c->sent_at = now_ns();
    for (;;) {
        int n = SSL_write(c->ssl, request, (int)request_size);
        if (n > 0) return 1;
        int err = SSL_get_error(c->ssl, n);
        if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) return 0;
        int64_t left = deadline - now_ns();
        if (left <= 0) return 0;
        struct pollfd p = {c->fd, err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
        if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR) return 0;
    }
}

/* A whole response is in c->buf: check it, count it, send the next request or stop. */
static void complete(Conn *c, int64_t now, int64_t response_deadline) {
    char why[MAX_ERROR_TEXT];
    const char *problem = check(c->buf, c->expected, why, sizeof why);
    c->have = 0;
    c->expected = 0;
    if (!c->looping) return;
    if (problem != NULL) {
        error(problem);
    } else if (t_start <= now && now < t_end) {
        if (n_latencies == cap_latencies) {
            cap_latencies = cap_latencies ? cap_latencies * 2 : 1 << 16;
            latencies = realloc(latencies, cap_latencies * sizeof *latencies);
            if (latencies == NULL) fail("out of memory");
        }
        latencies[n_latencies++] = now - c->sent_at;
    }
    if (now < t_end) {
        if (!send_request(c, response_deadline)) lost(c, "write failed");
    } else {
        stop(c);
    }
}

static void on_readable(Conn *c, int64_t response_deadline) {
    for (;;) {
        if (c->cap - c->have < 4096 && c->cap < MAX_RESPONSE_SIZE + HEADER_SIZE) {
            size_t cap = c->cap * 2;
            if (cap > MAX_RESPONSE_SIZE + HEADER_SIZE) cap = MAX_RESPONSE_SIZE + HEADER_SIZE;
            c->buf = realloc(c->buf, cap);
            if (c->buf == NULL) fail("out of memory");
            c->cap = cap;
        }
        int n = SSL_read(c->ssl, c->buf + c->have, (int)(c->cap - c->have));
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
            lost(c, err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ? "closed by the server"
                                                                             : "TLS error");
            c->fd = -c->fd - 1; /* closed for reading: the main loop drops it */
            return;
        }
        int64_t now = now_ns();
        c->have += (size_t)n;
        if (c->expected == 0 && c->have >= HEADER_SIZE) {
            uint32_t length = be32(c->buf + 4);
            if (length > MAX_RESPONSE_SIZE) {
                error("response larger than MAX_RESPONSE_SIZE");
                stop(c);
                c->fd = -c->fd - 1;
                return;
            }
            c->expected = HEADER_SIZE + length;
        }
        if (c->expected == 0 || c->have < c->expected) continue;
        if (c->have > c->expected) {
            error("bytes beyond the one response expected");
            stop(c);
            c->fd = -c->fd - 1;
            return;
        }
        complete(c, now, response_deadline);
        /* One request is in flight: nothing more is due until the next response, so skip the
         * read that would only say EAGAIN (epoll is level-triggered: anything that did come is
         * reported again). One system call less per request. */
        if (SSL_pending(c->ssl) == 0) return;
    }
}

static int connect_one(const struct addrinfo *ai, int64_t deadline) {
    for (;;) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail("socket");
        int64_t left = deadline - now_ns();
        if (left <= 0) fail("connecting: timed out");
        struct timeval tv = {(time_t)(left / 1000000000), (suseconds_t)(left % 1000000000 / 1000)};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as asyncio does */
            return fd;
        }
        int err = errno;
        close(fd);
        if (err != ECONNREFUSED && err != ECONNRESET) {
            char why[160];
            snprintf(why, sizeof why, "connecting: %s", strerror(err));
            fail(why);
        }
        if (now_ns() + CONNECT_RETRY_NS >= deadline) fail("connecting: connection refused");
        struct timespec pause = {0, CONNECT_RETRY_NS};
        nanosleep(&pause, NULL);
    }
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) fail("cannot open the request file");
    unsigned char *data = malloc(MAX_RESPONSE_SIZE);
    if (data == NULL) fail("out of memory");
    *size = fread(data, 1, MAX_RESPONSE_SIZE, f);
    fclose(f);
    if (*size < HEADER_SIZE) fail("the request file holds no message");
    return data;
}

int main(int argc, char **argv) {
    if (argc != 16) {
        fprintf(stderr, "usage: started by loadtests.loadgen.run_load (see the comment at the top)\n");
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *ca = argv[3], *cert = argv[4], *key = argv[5];
    const char *server_name = argv[6], *ciphers = argv[8];
    int max_tls = atoi(argv[7]);
    request = read_file(argv[9], &request_size);
    operation = (uint32_t)strtoul(argv[10], NULL, 10);
    long connections = atol(argv[11]);
    double warmup = atof(argv[12]), duration = atof(argv[13]);
    double connect_timeout = atof(argv[14]), response_timeout = atof(argv[15]);
    if (connections < 1) fail("need at least one connection");

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, max_tls == 3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) fail("cipher list refused");
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) fail("cannot load the CA file");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) fail("cannot load the client certificate");
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) fail("cannot load the client key");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0) fail("cannot resolve the host");

    Conn *conns = calloc((size_t)connections, sizeof *conns);
    if (conns == NULL) fail("out of memory");
    int64_t connect_deadline = now_ns() + (int64_t)(connect_timeout * 1e9);
    for (long i = 0; i < connections; i++) {
        Conn *c = &conns[i];
        c->fd = connect_one(ai, connect_deadline);
        c->ssl = SSL_new(ctx);
        if (c->ssl == NULL) fail("SSL_new");
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, server_name);
        SSL_set1_host(c->ssl, server_name);
        if (SSL_connect(c->ssl) != 1) {
            char why[256];
            unsigned long code = ERR_get_error();
            snprintf(why, sizeof why, "connecting: TLS handshake: %s",
                     code ? ERR_reason_error_string(code) : "no answer");
            fail(why);
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->cap = 16384;
        c->buf = malloc(c->cap);
        if (c->buf == NULL) fail("out of memory");
    }
    freeaddrinfo(ai);
    printf("ready %s %s\n", SSL_get_version(conns[0].ssl), SSL_get_cipher_name(conns[0].ssl));
    fflush(stdout);

    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL || strcmp(line, "go\n") != 0) return 0;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1");
    for (long i = 0; i < connections; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) != 0) fail("epoll_ctl");
    }
    int64_t go = now_ns();
    t_start = go + (int64_t)(warmup * 1e9);
    t_end = t_start + (int64_t)(duration * 1e9);
    int64_t give_up = t_end + (int64_t)(response_timeout * 1e9);
    double cpu_start = -1, cpu_end = -1;
    open_conns = connections;
    for (long i = 0; i < connections; i++) {
        conns[i].looping = 1;
        if (!send_request(&conns[i], give_up)) lost(&conns[i], "write failed");
    }

    struct epoll_event events[MAX_EVENTS];
    while (open_conns > 0) {
        int64_t now = now_ns();
        if (cpu_start < 0 && now >= t_start) cpu_start = cpu_seconds();
        if (cpu_end < 0 && now >= t_end) cpu_end = cpu_seconds();
        if (now >= give_up) break;
        int64_t next = cpu_start < 0 ? t_start : cpu_end < 0 ? t_end : give_up;
        int wait_ms = (int)((next - now) / 1000000) + 1;
        if (wait_ms > 100) wait_ms = 100;
        int n = epoll_wait(ep, events, MAX_EVENTS, wait_ms);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (c->fd < 0) continue;
            on_readable(c, give_up);
            if (c->fd < 0) epoll_ctl(ep, EPOLL_CTL_DEL, -c->fd - 1, NULL);
        }
    }
    if (cpu_end < 0) cpu_end = cpu_seconds();
    if (cpu_start < 0) cpu_start = cpu_end;
    if (open_conns > 0) {
        char what[MAX_ERROR_TEXT];
        snprintf(what, sizeof what, "no response within %g s after the window", response_timeout);
        for (long i = 0; i < connections; i++) {
            if (conns[i].looping) {
                error(what);
                stop(&conns[i]);
            }
        }
    }

    printf("result %ld %ld %.9f\n", errors, sent, cpu_end - cpu_start);
    for (int i = 0; i < n_samples; i++) printf("error %ld %s\n", samples[i].times, samples[i].what);
    printf("latencies %zu\n", n_latencies);
    fwrite(latencies, sizeof *latencies, n_latencies, stdout);
    fflush(stdout);
    for (long i = 0; i < connections; i++) {
        Conn *c = &conns[i];
        int fd = c->fd < 0 ? -c->fd - 1 : c->fd;
        if (c->fd >= 0) SSL_shutdown(c->ssl); /* best effort close_notify; no wait for the reply */
        SSL_free(c->ssl);
        close(fd);
        free(c->buf);
    }
    SSL_CTX_free(ctx);
    free(latencies);
    free((void *)request);
    free(conns);
    return 0;
}
