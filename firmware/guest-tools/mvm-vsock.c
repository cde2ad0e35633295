/*
 * mvm-vsock: the guest's end of a vsock stream, because busybox has no vsock
 * tool. Built static (musl) into the initramfs and the root disk.
 *
 *   mvm-vsock listen PORT [COUNT]  accept connections on vsock PORT, one after
 *                                another, and echo every byte back until the
 *                                peer shuts down its side; with COUNT, exit 0
 *                                after COUNT connections (a script can wait
 *                                for the host to have been served)
 *   mvm-vsock connect CID PORT   connect to CID:PORT (the host is CID 2);
 *                                stdin goes to the socket, the socket to stdout
 *
 * Errors: one line on stderr, exit status 1 (2 for bad usage).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * struct sockaddr_vm from <linux/vm_sockets.h>, declared here because musl's
 * headers do not include the kernel's; the layout is kernel ABI (16 bytes).
 */
struct vsock_address {
	sa_family_t family;
	unsigned short reserved;
	uint32_t port;
	uint32_t cid;
	unsigned char flags;
	unsigned char zero[3];
};

/* VMADDR_CID_ANY: accept connections to whatever CID this guest has. */
#define CID_ANY 0xffffffffu
/* How many not-yet-accepted connections the kernel queues for a listener. */
#define LISTEN_BACKLOG 8
/* One read's worth; vsock packets carry at most 64 KiB anyway. */
#define BUFFER_SIZE 65536

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "mvm-vsock: %s: %s\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void usage(void)
{
	fputs("usage: mvm-vsock listen PORT [COUNT] | mvm-vsock connect CID PORT\n", stderr);
	exit(2);
}

/* A decimal number below 2^32, or usage(): strtoul alone accepts "-1" and "12x". */
static uint32_t parse_u32(const char *text)
{
	char *end;
	unsigned long long value;

	if (text[0] < '0' || text[0] > '9')
		usage();
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value > 0xffffffffull)
		usage();
	return (uint32_t)value;
}

/* write() until every byte is out (a socket may take fewer). Returns 0, or -1 with errno. */
static int write_all(int fd, const char *data, size_t length)
{
	while (length > 0) {
		ssize_t n = write(fd, data, length);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		length -= (size_t)n;
	}
	return 0;
}

static int vsock_socket(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket(AF_VSOCK) (does the guest have a virtio-vsock device? mvm run --vsock cid=N)");
	return fd;
}

/* Echoes one connection until the peer shuts down its write side or the connection fails. */
static void echo_connection(int fd, char *buffer)
{
	for (;;) {
		ssize_t n = read(fd, buffer, BUFFER_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* A reset peer ends this connection, not the listener. */
			fprintf(stderr, "mvm-vsock: read: %s\n", strerror(errno));
			return;
		}
		if (n == 0) {
			/* The peer sent everything: say we are done too, so it sees EOF after the echo. */
			shutdown(fd, SHUT_WR);
			return;
		}
		if (write_all(fd, buffer, (size_t)n) < 0) {
			fprintf(stderr, "mvm-vsock: write: %s\n", strerror(errno));
			return;
		}
	}
}

/* Serves `count` connections (0: until the VM stops or an error ends it), then exits 0. */
static _Noreturn void listen_mode(uint32_t port, uint32_t count)
{
	static char buffer[BUFFER_SIZE];
	struct vsock_address address = { .family = AF_VSOCK, .port = port, .cid = CID_ANY };
	uint32_t served = 0;
	int fd = vsock_socket();

	if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0)
		die("bind");
	if (listen(fd, LISTEN_BACKLOG) < 0)
		die("listen");
	/* Scripts wait for this line before they let the host connect. */
	fprintf(stderr, "mvm-vsock: listening on port %u\n", port);
	for (;;) {
		int connection = accept(fd, NULL, NULL);
		if (connection < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		echo_connection(connection, buffer);
		close(connection);
		if (count != 0 && ++served == count)
			exit(0);
	}
}

/*
 * Copies stdin to the socket and the socket to stdout at the same time (a
 * request-reply peer would deadlock a copy that does one side first). Ends
 * when the peer closes; stdin's EOF only shuts down our write side.
 */
static int connect_mode(uint32_t cid, uint32_t port)
{
	static char buffer[BUFFER_SIZE];
	struct vsock_address address = { .family = AF_VSOCK, .port = port, .cid = cid };
	struct pollfd fds[2];
	int fd = vsock_socket();

	if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
		die("connect");
	fds[0].fd = STDIN_FILENO;
	fds[0].events = POLLIN;
	fds[1].fd = fd;
	fds[1].events = POLLIN;
	for (;;) {
		ssize_t n;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[0].revents) {
			n = read(STDIN_FILENO, buffer, BUFFER_SIZE);
			if (n < 0 && errno != EINTR)
				die("read stdin");
			if (n == 0) {
				shutdown(fd, SHUT_WR);
				/* A negative fd is skipped by poll: stdin is done. */
				fds[0].fd = -1;
			} else if (n > 0 && write_all(fd, buffer, (size_t)n) < 0) {
				die("write socket");
			}
		}
		if (fds[1].revents) {
			n = read(fd, buffer, BUFFER_SIZE);
			if (n < 0 && errno != EINTR)
				die("read socket");
			if (n == 0)
				return 0;
			if (n > 0 && write_all(STDOUT_FILENO, buffer, (size_t)n) < 0)
				die("write stdout");
		}
	}
}

int main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "listen") == 0)
		listen_mode(parse_u32(argv[2]), argc == 4 ? parse_u32(argv[3]) : 0);
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return connect_mode(parse_u32(argv[2]), parse_u32(argv[3]));
	usage();
}
