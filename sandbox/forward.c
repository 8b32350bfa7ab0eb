/*
 * fixwright-forward: the sandbox's only way out, from the container's loopback to the model relay.
 *
 *   fixwright-forward PORT SOCKET -- COMMAND [ARG...]
 *
 * Listens on 127.0.0.1:PORT, then runs COMMAND in its own place (exec: same pid, stdin intact),
 * while a child process forwards each connection to the Unix socket SOCKET. The port listens
 * before COMMAND starts, so nothing has to wait for it. Built static, so it runs in any image
 * (fixwright adds it to environment images with the CLI); it reads no configuration and no
 * environment.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAILED 90 /* the exit code fixwright reads as "the forwarder did not start" */

static int write_all(int fd, const char *data, ssize_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, (size_t)length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        data += written;
        length -= written;
    }
    return 0;
}

/* Copy both ways until either side closes. */
static void pump(int client, int relay) {
    struct pollfd fds[2] = {{client, POLLIN, 0}, {relay, POLLIN, 0}};
    char buffer[65536];
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
            if (got <= 0 || write_all(fds[1 - i].fd, buffer, got) < 0) return;
        }
    }
}

static void serve(int listener, const char *socket_path) {
    struct sockaddr_un relay_address;
    memset(&relay_address, 0, sizeof relay_address);
    relay_address.sun_family = AF_UNIX;
    strncpy(relay_address.sun_path, socket_path, sizeof relay_address.sun_path - 1);
    signal(SIGCHLD, SIG_IGN); /* connections' processes are reaped by the kernel */
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        if (fork() == 0) {
            close(listener);
            int relay = socket(AF_UNIX, SOCK_STREAM, 0);
            if (relay >= 0 &&
                connect(relay, (struct sockaddr *)&relay_address, sizeof relay_address) == 0)
                pump(client, relay);
            _exit(0);
        }
        close(client);
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0 || strlen(argv[2]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "usage: fixwright-forward PORT SOCKET -- COMMAND [ARG...]\n");
        return FAILED;
    }
    int port = atoi(argv[1]);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (port <= 0 || port > 65535 || listener < 0 ||
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listener, 64) != 0) {
        fprintf(stderr, "relay forwarder did not start: %s\n", strerror(errno));
        return FAILED;
    }
    pid_t forwarder = fork();
    if (forwarder < 0) {
        fprintf(stderr, "relay forwarder did not start: %s\n", strerror(errno));
        return FAILED;
    }
    if (forwarder == 0) {
        close(STDIN_FILENO); /* the prompt on stdin is the command's alone */
        serve(listener, argv[2]);
    }
    close(listener);
    execvp(argv[4], &argv[4]);
    fprintf(stderr, "cannot run %s: %s\n", argv[4], strerror(errno));
    return FAILED;
}
