/*
 * mvm-fsbench: file-system work timed inside the guest, for comparing a
 * shared directory (virtio-fs) with a disk (src/bench/guest-fs). Built static
 * (musl) into the initramfs and the root disk.
 *
 *   mvm-fsbench seqwrite DIR MIB    writes DIR/mvm-fsbench.seq, MIB blocks of 1 MiB, then fsync
 *   mvm-fsbench seqread DIR MIB     reads it back in 1 MiB blocks (after dropping the guest's
 *                                   page cache, so the bytes cross the device)
 *   mvm-fsbench smallfiles DIR N    N files of 4 KiB in DIR/mvm-fsbench.small: create+write,
 *                                   then stat each, then read each, then unlink each
 *
 * Prints one line per timed phase:
 *
 *   mvm-fsbench PHASE bytes=B ops=N ns=T
 *
 * with PHASE one of seqwrite, seqread, create, stat, read, unlink.
 * Errors: one line on stderr, exit status 1 (2 for bad usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define SMALL_FILE 4096u
#define MAX_COUNT 100000u
#define WRITE_PATTERN 0xa5
#define PATH_BYTES 4096

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "mvm-fsbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void usage(void)
{
	fputs("usage: mvm-fsbench seqwrite|seqread|smallfiles DIR COUNT\n", stderr);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void report(const char *phase, uint64_t bytes, uint32_t ops, uint64_t ns)
{
	printf("mvm-fsbench %s bytes=%llu ops=%u ns=%llu\n", phase, (unsigned long long)bytes, ops, (unsigned long long)ns);
	fflush(stdout);
}

/* So a read phase reads through the device, not the guest's page cache. */
static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	sync();
	if (fd < 0)
		return;
	if (write(fd, "3\n", 2) != 2)
		die("drop_caches");
	close(fd);
}

static void path_of(char *out, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, PATH_BYTES, "%s/%s", dir, name) >= PATH_BYTES) {
		errno = ENAMETOOLONG;
		die(dir);
	}
}

static void sequential(int writing, const char *dir, uint32_t mib)
{
	static char buffer[MIB];
	char path[PATH_BYTES];
	path_of(path, dir, "mvm-fsbench.seq");
	memset(buffer, WRITE_PATTERN, sizeof buffer);
	if (!writing)
		drop_caches();
	int fd = open(path, writing ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY, 0644);
	if (fd < 0)
		die(path);
	uint64_t start = now_ns();
	for (uint32_t i = 0; i < mib; i++) {
		ssize_t n = writing ? write(fd, buffer, MIB) : read(fd, buffer, MIB);
		if (n != (ssize_t)MIB) {
			if (n >= 0)
				errno = EIO;
			die(writing ? "write" : "read");
		}
	}
	if (writing && fsync(fd) != 0)
		die("fsync");
	uint64_t ns = now_ns() - start;
	close(fd);
	report(writing ? "seqwrite" : "seqread", (uint64_t)mib * MIB, mib, ns);
}

static void small_files(const char *dir, uint32_t count)
{
	static char buffer[SMALL_FILE];
	char base[PATH_BYTES], path[PATH_BYTES], name[64];
	path_of(base, dir, "mvm-fsbench.small");
	if (mkdir(base, 0755) != 0 && errno != EEXIST)
		die(base);
	memset(buffer, WRITE_PATTERN, sizeof buffer);
	uint64_t start = now_ns();
	for (uint32_t i = 0; i < count; i++) {
		snprintf(name, sizeof name, "f%u", i);
		path_of(path, base, name);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die(path);
		if (write(fd, buffer, SMALL_FILE) != (ssize_t)SMALL_FILE)
			die("write");
		close(fd);
	}
	report("create", (uint64_t)count * SMALL_FILE, count, now_ns() - start);
	drop_caches();
	start = now_ns();
	for (uint32_t i = 0; i < count; i++) {
		struct stat st;
		snprintf(name, sizeof name, "f%u", i);
		path_of(path, base, name);
		if (stat(path, &st) != 0 || st.st_size != SMALL_FILE)
			die(path);
	}
	report("stat", 0, count, now_ns() - start);
	drop_caches();
	start = now_ns();
	for (uint32_t i = 0; i < count; i++) {
		snprintf(name, sizeof name, "f%u", i);
		path_of(path, base, name);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die(path);
		if (read(fd, buffer, SMALL_FILE) != (ssize_t)SMALL_FILE)
			die("read");
		close(fd);
	}
	report("read", (uint64_t)count * SMALL_FILE, count, now_ns() - start);
	start = now_ns();
	for (uint32_t i = 0; i < count; i++) {
		snprintf(name, sizeof name, "f%u", i);
		path_of(path, base, name);
		if (unlink(path) != 0)
			die(path);
	}
	report("unlink", 0, count, now_ns() - start);
	rmdir(base);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		usage();
	char *end;
	errno = 0;
	unsigned long count = strtoul(argv[3], &end, 10);
	if (errno != 0 || *end != '\0' || count == 0 || count > MAX_COUNT)
		usage();
	if (strcmp(argv[1], "seqwrite") == 0)
		sequential(1, argv[2], (uint32_t)count);
	else if (strcmp(argv[1], "seqread") == 0)
		sequential(0, argv[2], (uint32_t)count);
	else if (strcmp(argv[1], "smallfiles") == 0)
		small_files(argv[2], (uint32_t)count);
	else
		usage();
	return 0;
}
