/*
 * mvm-diskbench: block-device I/O timed inside the guest, for comparing
 * VMMs' virtio-blk on the same image (src/bench/guest-disk). Built static
 * (musl) into the initramfs and the root disk.
 *
 *   mvm-diskbench MODE DEVICE REGION_MIB COUNT
 *
 *   seqread, seqwrite    COUNT blocks of 1 MiB, front to back, wrapping
 *                        around within the first REGION_MIB MiB
 *   randread, randwrite  COUNT blocks of 4 KiB at random 4 KiB-aligned
 *                        offsets within the first REGION_MIB MiB
 *
 * Every request uses O_DIRECT, so each one reaches the virtio-blk device
 * instead of the guest's page cache; writes are followed by fdatasync, which
 * is timed too (a VMM that only buffers does not win). The offsets come from a
 * fixed seed, so every run and every VMM sees the same sequence.
 * Prints one line:
 *
 *   mvm-diskbench MODE bytes=B ops=N ns=T
 *
 * Errors: one line on stderr, exit status 1 (2 for bad usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define SEQUENTIAL_BLOCK MIB
#define RANDOM_BLOCK 4096u
/* O_DIRECT needs buffers aligned to the logical block size; a page covers every device. */
#define BUFFER_ALIGNMENT 4096u
/* Bounds that keep a typo from running for hours or overflowing offsets. */
#define MAX_REGION_MIB (1024u * 1024u)
#define MAX_COUNT 100000000u
/* Any fixed non-zero seed: the same offsets for every run and every VMM. */
#define RANDOM_SEED 0x6d766d2d6469736bull
/* A byte pattern for writes that is not zeros (a VMM or image might special-case zeros). */
#define WRITE_PATTERN 0xa5

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "mvm-diskbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void usage(void)
{
	fputs("usage: mvm-diskbench seqread|seqwrite|randread|randwrite DEVICE REGION_MIB COUNT\n", stderr);
	exit(2);
}

static uint32_t parse_count(const char *text, uint32_t max)
{
	char *end;
	unsigned long long value;

	if (text[0] < '1' || text[0] > '9')
		usage();
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value > max)
		usage();
	return (uint32_t)value;
}

/* xorshift64: cheap, and identical on every run. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) < 0)
		die("clock_gettime");
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* One whole block at `offset`; a short transfer on a block device is an error here. */
static void transfer(int fd, int writing, char *buffer, size_t length, uint64_t offset)
{
	ssize_t n = writing ? pwrite(fd, buffer, length, (off_t)offset) : pread(fd, buffer, length, (off_t)offset);
	if (n < 0)
		die(writing ? "pwrite" : "pread");
	if ((size_t)n != length) {
		fprintf(stderr, "mvm-diskbench: short %s at offset %llu (%zd of %zu bytes): is the device smaller than the region?\n",
			writing ? "write" : "read", (unsigned long long)offset, n, length);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int sequential, writing, fd;
	uint32_t region_mib, count, i;
	uint64_t region, block, blocks_in_region, seed = RANDOM_SEED, start, elapsed;
	void *buffer;

	if (argc != 5)
		usage();
	if (strcmp(argv[1], "seqread") == 0 || strcmp(argv[1], "seqwrite") == 0)
		sequential = 1;
	else if (strcmp(argv[1], "randread") == 0 || strcmp(argv[1], "randwrite") == 0)
		sequential = 0;
	else
		usage();
	writing = strstr(argv[1], "write") != NULL;
	region_mib = parse_count(argv[3], MAX_REGION_MIB);
	count = parse_count(argv[4], MAX_COUNT);
	block = sequential ? SEQUENTIAL_BLOCK : RANDOM_BLOCK;
	region = (uint64_t)region_mib * MIB;
	blocks_in_region = region / block;

	fd = open(argv[2], (writing ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		die(argv[2]);
	if (posix_memalign(&buffer, BUFFER_ALIGNMENT, block) != 0) {
		fputs("mvm-diskbench: out of memory\n", stderr);
		return 1;
	}
	memset(buffer, WRITE_PATTERN, block);

	start = now_ns();
	for (i = 0; i < count; i++) {
		uint64_t index = sequential ? i % blocks_in_region : next_random(&seed) % blocks_in_region;
		transfer(fd, writing, buffer, block, index * block);
	}
	if (writing && fdatasync(fd) < 0)
		die("fdatasync");
	elapsed = now_ns() - start;

	printf("mvm-diskbench %s bytes=%llu ops=%u ns=%llu\n", argv[1],
	       (unsigned long long)count * block, count, (unsigned long long)elapsed);
	close(fd);
	return 0;
}
