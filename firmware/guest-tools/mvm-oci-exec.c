// mvm-oci-exec: starts an OCI container's process inside an mvm guest
// (mvm-runtime, src/oci). The guest is the sandbox, so no namespaces: the
// runtime's guest script has mounted the container's root (a virtio-fs
// share) and its mounts; this program does what busybox cannot do in one
// exec: chroot into that root, set the host name and rlimits, switch to the
// process's uid/gid/groups, change to its working directory, replace the
// environment, then exec the process's args (PATH searched in the new root).
//
//   mvm-oci-exec -r ROOT [-w CWD] [-u UID] [-g GID] [-G GID,GID...]
//                [-h HOSTNAME] [-m UMASK] [-l RESOURCE:SOFT:HARD]... [-e NAME=VALUE]...
//                -- ARG...
//
// RESOURCE is the Linux resource number (the runtime maps RLIMIT_* names);
// SOFT/HARD are decimal or "inf". Exit status 127: the program was not found;
// 126: it could not be run, or the set-up failed (one line on stderr) - the
// values shells and container runtimes use.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127
#define MAX_GROUPS 64
#define MAX_ENV 1024

static void die(const char *what, const char *detail) {
  fprintf(stderr, "mvm-oci-exec: %s %s: %s\n", what, detail, strerror(errno));
  exit(EXIT_CANNOT_RUN);
}

static void bad_option(const char *what, const char *value) {
  fprintf(stderr, "mvm-oci-exec: bad %s \"%s\"\n", what, value);
  exit(EXIT_CANNOT_RUN);
}

// A whole decimal number no larger than max, or dies.
static unsigned long long number(const char *text, unsigned long long max, const char *what) {
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value > max) bad_option(what, text);
  return value;
}

static rlim_t limit_value(const char *text) {
  if (strcmp(text, "inf") == 0) return RLIM_INFINITY;
  return (rlim_t)number(text, ULLONG_MAX - 1, "rlimit value");
}

static void set_rlimit(const char *spec) {
  char copy[128];
  if (strlen(spec) >= sizeof copy) bad_option("rlimit", spec);
  strcpy(copy, spec);
  char *soft = strchr(copy, ':');
  char *hard = soft ? strchr(soft + 1, ':') : NULL;
  if (!soft || !hard) bad_option("rlimit", spec);
  *soft++ = '\0';
  *hard++ = '\0';
  struct rlimit limit = {.rlim_cur = limit_value(soft), .rlim_max = limit_value(hard)};
  int resource = (int)number(copy, RLIM_NLIMITS - 1, "rlimit resource");
  if (setrlimit(resource, &limit) != 0) die("cannot set rlimit", spec);
}

static size_t parse_groups(const char *text, gid_t *groups) {
  char copy[1024];
  size_t count = 0;
  if (strlen(text) >= sizeof copy) bad_option("groups", text);
  strcpy(copy, text);
  for (char *save, *word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
    if (count == MAX_GROUPS) bad_option("groups (too many)", text);
    groups[count++] = (gid_t)number(word, UINT_MAX - 1, "group");
  }
  return count;
}

int main(int argc, char **argv) {
  const char *root = NULL, *cwd = "/", *hostname = NULL, *groups_text = NULL;
  uid_t uid = 0;
  gid_t gid = 0;
  static char *env[MAX_ENV + 1];
  size_t env_count = 0;
  int option;
  while ((option = getopt(argc, argv, "+r:w:u:g:G:h:m:l:e:")) != -1) {
    switch (option) {
      case 'r': root = optarg; break;
      case 'w': cwd = optarg; break;
      case 'u': uid = (uid_t)number(optarg, UINT_MAX - 1, "uid"); break;
      case 'g': gid = (gid_t)number(optarg, UINT_MAX - 1, "gid"); break;
      case 'G': groups_text = optarg; break;
      case 'h': hostname = optarg; break;
      case 'm': umask((mode_t)number(optarg, 0777, "umask")); break;
      case 'l': set_rlimit(optarg); break;
      case 'e':
        if (env_count == MAX_ENV) bad_option("environment (too many variables)", optarg);
        env[env_count++] = optarg;
        break;
      default: exit(EXIT_CANNOT_RUN);
    }
  }
  if (!root || optind >= argc) {
    fprintf(stderr, "usage: mvm-oci-exec -r ROOT [options] -- ARG...\n");
    return EXIT_CANNOT_RUN;
  }
  if (hostname && sethostname(hostname, strlen(hostname)) != 0) die("cannot set the host name", hostname);
  if (chroot(root) != 0) die("cannot change root to", root);
  if (chdir("/") != 0) die("cannot change directory to", "/");
  gid_t groups[MAX_GROUPS];
  size_t group_count = groups_text ? parse_groups(groups_text, groups) : 0;
  if (setgroups(group_count, groups) != 0) die("cannot set the groups", groups_text ? groups_text : "(none)");
  if (setgid(gid) != 0) die("cannot set gid", "");
  if (setuid(uid) != 0) die("cannot set uid", "");
  // After the switch, as runc does: a directory only the user can enter still works.
  if (chdir(cwd) != 0) die("cannot change directory to", cwd);
  env[env_count] = NULL;
  environ = env;
  execvp(argv[optind], argv + optind);
  int status = errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
  fprintf(stderr, "mvm-oci-exec: cannot run %s: %s\n", argv[optind], strerror(errno));
  return status;
}
