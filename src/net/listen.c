/*
 * Opening a listening TCP socket: shared by the Kafka listener (loop.c)
 * and the admin HTTP listener, so both accept the same host forms
 * (empty = every interface, an IPv4 literal, or a name resolved to its
 * first IPv4 address) and the same configuration always means the same
 * socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "net/net.h"

static int resolve_ipv4(const char *host, struct in_addr *out) {
    if (!host || !*host) {
        out->s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET, host, out) == 1) return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        log_error("net", "cannot resolve listen host host=%s error=\"%s\"", host,
                  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        if (res) freeaddrinfo(res);
        return -1;
    }
    *out = ((const struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

int net_listen_socket(const char *host, int port, int backlog, int *port_out) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (port < 0 || port > 65535) {
        log_error("net", "bad listen port port=%d", port);
        return -1;
    }
    if (resolve_ipv4(host, &sa.sin_addr) != 0) return -1;
    sa.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("net", "socket failed error=\"%s\"", strerror(errno));
        return -1;
    }
    int one = 1;
    /* A restarted broker must bind while old connections sit in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, backlog) != 0) {
        log_error("net", "cannot listen host=%s port=%d error=\"%s\"", host ? host : "", port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        log_error("net", "getsockname failed error=\"%s\"", strerror(errno));
        close(fd);
        return -1;
    }
    *port_out = ntohs(sa.sin_port);
    return fd;
}
