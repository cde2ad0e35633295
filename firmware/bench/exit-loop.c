/*
 * The VM-exit round-trip baseline: the same tiny real-mode guest as
 * src/bench/exit-loop/koffi-loop.ts, driven straight from C through /dev/kvm.
 * The guest is an endless `out` loop; every KVM_RUN returns one port-I/O exit,
 * so the time per KVM_RUN is the full guest -> host VMM -> guest round trip.
 *
 * Usage: exit-loop EXITS ROUNDS
 * Prints one JSON line: {"loop":"c","exits":EXITS,"roundNs":[...]}
 * (ns for EXITS exits, per round, after an untimed warm-up round).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Keep these in step with src/bench/exit-loop/guest.ts. */
#define GUEST_MEMORY_BYTES 0x10000 /* 64 KiB of guest RAM at guest physical 0 */
#define GUEST_CODE_ADDRESS 0x1000  /* where the loop's code sits (real mode, CS base 0) */
#define EXIT_PORT 0x10             /* an I/O port no in-kernel device claims */
/* Intel VMX wants three pages for a real-mode TSS somewhere below 4 GiB; AMD ignores it. */
#define TSS_ADDRESS 0xfffbd000UL
#define WARMUP_EXITS 1000
#define MAX_ROUNDS 100

/* mov al, 1; out EXIT_PORT, al; jmp back to the out (rel8 -4). */
static const uint8_t guest_code[] = {0xb0, 0x01, 0xe6, EXIT_PORT, 0xeb, 0xfc};

static void die(const char *what) {
  fprintf(stderr, "exit-loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long parse_count(const char *text, const char *what, long max) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*end != '\0' || value < 1 || value > max) {
    fprintf(stderr, "exit-loop: %s must be a whole number from 1 to %ld, not \"%s\"\n", what, max, text);
    exit(2);
  }
  return value;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs the vCPU for COUNT exits, refusing anything but the expected port write. */
static void run_exits(int vcpu, struct kvm_run *run, long count) {
  for (long i = 0; i < count; i++) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) { i--; continue; }
      die("KVM_RUN");
    }
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != EXIT_PORT || run->io.direction != KVM_EXIT_IO_OUT) {
      fprintf(stderr, "exit-loop: unexpected exit reason %u (port 0x%x)\n", run->exit_reason, run->io.port);
      exit(1);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exit-loop EXITS ROUNDS\n");
    return 2;
  }
  long exits = parse_count(argv[1], "EXITS", 100000000);
  long rounds = parse_count(argv[2], "ROUNDS", MAX_ROUNDS);

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  if (ioctl(vm, KVM_SET_TSS_ADDR, TSS_ADDRESS) < 0) die("KVM_SET_TSS_ADDR");

  uint8_t *memory = mmap(NULL, GUEST_MEMORY_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) die("mmap guest memory");
  memcpy(memory + GUEST_CODE_ADDRESS, guest_code, sizeof guest_code);
  struct kvm_userspace_memory_region region = {
    .slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEMORY_BYTES, .userspace_addr = (uint64_t)(uintptr_t)memory,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < 0) die("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  /* A fresh vCPU is in real mode at the reset vector; point CS at 0 instead. */
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = {.rip = GUEST_CODE_ADDRESS, .rflags = 0x2 /* bit 1 is always set */};
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  run_exits(vcpu, run, WARMUP_EXITS);
  int64_t round_ns[MAX_ROUNDS];
  for (long r = 0; r < rounds; r++) {
    int64_t start = now_ns();
    run_exits(vcpu, run, exits);
    round_ns[r] = now_ns() - start;
  }

  printf("{\"loop\":\"c\",\"exits\":%ld,\"roundNs\":[", exits);
  for (long r = 0; r < rounds; r++) printf("%s%lld", r ? "," : "", (long long)round_ns[r]);
  printf("]}\n");
  return 0;
}
