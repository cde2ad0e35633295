#!/usr/bin/env bash
# One build step, reported in one line. The step's command writes everything
# to a log file; the terminal gets the step's name, where it is (a progress
# probe's answer), the time taken and the log's path, and on failure the log's
# last lines. Used by the Makefile for every step of a build.
#
#   images/lib/step.sh [OPTIONS] NAME LOG CMD [ARG...]
#   . images/lib/step.sh; step_run [OPTIONS] NAME LOG CMD [ARG...]
#
#   --progress PROBE  ask step_probe_PROBE (below) every few seconds where the
#                     command is: kernel, helper, deps
#   --private-tmp     run CMD with TMPDIR set to a directory of its own (which
#                     the probe may look into), removed afterwards
#   --quiet           print nothing unless the command fails
#   --doing TEXT      what the step is doing while no probe says better
#                     (default "running")
#
# On a terminal the step's line is redrawn in place every second. Elsewhere
# (CI logs, output piped) a step still running after STEP_FIRST_REPORT seconds
# (10) prints a line with its log's path, then one every STEP_REPORT_INTERVAL
# seconds (30), so a log shows the step is alive without filling up. CI=true,
# TERM=dumb and make -j also select that form.
#
# When CMD ends, the step prints one line: "NAME: RESULT", where RESULT is
# CMD's last line of output without its "script-name: " prefix (a last line
# "-> PATH" is joined to the one before). On failure it prints the log's last
# STEP_TAIL_LINES (20) lines and its path to stderr. The exit status is CMD's.
#
# CMD runs in the foreground, with stdin from /dev/null, so ^C reaches it
# exactly as it would without this wrapper.

# Under make -j, steps run side by side and would redraw over each other.
step_interactive() {
  [[ -t 1 && ${CI:-} != true && ${TERM:-dumb} != dumb && ${MAKEFLAGS:-} != *-j* ]]
}

step_now() { printf '%(%s)T' -1; }

# 75 -> 1m15s, 9 -> 9s
step_duration() {
  if (($1 < 60)); then echo "$1s"; else printf '%dm%02ds\n' $(($1 / 60)) $(($1 % 60)); fi
}

step_run() {
  local probe='' quiet=0 private_tmp=0
  STEP_DOING=running
  while [[ ${1:-} == --* ]]; do
    case $1 in
      --progress) probe=$2; shift 2 ;;
      --private-tmp) private_tmp=1; shift ;;
      --quiet) quiet=1; shift ;;
      --doing) STEP_DOING=$2; shift 2 ;;
      *) echo "step: unknown option $1" >&2; return 2 ;;
    esac
  done
  if (($# < 3)); then
    echo "usage: step.sh [--progress PROBE] [--private-tmp] [--quiet] [--doing TEXT] NAME LOG CMD [ARG...]" >&2
    return 2
  fi
  local name=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  : >"$log"

  local state
  state=$(mktemp "${TMPDIR:-/tmp}/mvm-step.XXXXXX")
  STEP_STATE=$state
  STEP_TMP=''
  if ((private_tmp)); then
    STEP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mvm-step-tmp.XXXXXX")
    # apt-get download drops to the _apt user, who must reach the command's own directories.
    chmod 0755 "$STEP_TMP"
  fi

  local started monitor=''
  started=$(step_now)
  if ((!quiet)); then
    step_monitor "$name" "$log" "$probe" "$state" "$started" "$BASHPID" &
    monitor=$!
    STEP_MONITOR=$monitor
  fi

  local status=0
  if [[ -n $STEP_TMP ]]; then
    TMPDIR=$STEP_TMP "$@" >"$log" 2>&1 </dev/null || status=$?
  else
    "$@" >"$log" 2>&1 </dev/null || status=$?
  fi

  if [[ -n $monitor ]]; then
    kill "$monitor" 2>/dev/null
    wait "$monitor" 2>/dev/null
    STEP_MONITOR=''
  fi
  step_interactive && ((!quiet)) && printf '\r\033[K'
  [[ -n $STEP_TMP ]] && rm -rf "$STEP_TMP"
  STEP_TMP=''

  local elapsed=$(($(step_now) - started))
  if ((status == 0)); then
    if [[ -n $probe ]] && declare -F "step_done_$probe" >/dev/null; then
      "step_done_$probe" "$log" "$state"
    fi
    rm -f "$state"
    STEP_STATE=''
    ((quiet)) && return 0
    local result
    result=$(step_result "$log")
    if ((elapsed >= 2)); then
      echo "$name: ${result:-done}; $(step_duration "$elapsed"), log: $log"
    else
      echo "$name: ${result:-done}"
    fi
    return 0
  fi
  rm -f "$state"
  STEP_STATE=''
  {
    echo "$name: FAILED (exit status $status) after $(step_duration "$elapsed"); the last ${STEP_TAIL_LINES:-20} lines of $log:"
    tail -n "${STEP_TAIL_LINES:-20}" "$log" | sed 's/^/    /'
    echo "$name: full log: $log"
  } >&2
  return "$status"
}

# The command's last line of output without a leading "build-xyz: " or
# "helper image: "; a last line "-> PATH" is joined to the line before.
step_result() {
  local lines previous last
  lines=$(grep -v '^[[:space:]]*$' "$1" | tail -n 2 | sed -E 's/^[a-z][a-z -]{0,30}: //')
  last=$(tail -n 1 <<<"$lines")
  previous=$(head -n 1 <<<"$lines")
  if [[ $last == '-> '* && $previous != "$last" ]]; then
    last="$previous $last"
  fi
  # The whole line is in the log; one terminal line is enough here.
  if ((${#last} > 100)); then last="${last:0:97}..."; fi
  echo "$last"
}

# Reports where the step is until it is killed or the step's shell ($6) is
# gone. Probes look at the file system (the kernel's, one find(1) over the
# tree, ~0.3 s of CPU), so they run every 5 s at most, not every second.
step_monitor() {
  local name=$1 log=$2 probe=$3 state=$4 started=$5 parent=$6
  local interactive=0 first=${STEP_FIRST_REPORT:-10} interval=${STEP_REPORT_INTERVAL:-30}
  local next_report=$first last_probe=-100 elapsed reported=0
  step_interactive && interactive=1
  STEP_STATUS=$STEP_DOING
  while kill -0 "$parent" 2>/dev/null; do
    sleep 1
    elapsed=$(($(step_now) - started))
    if ((elapsed - last_probe >= 5 || (!interactive && elapsed >= next_report))); then
      step_probe "$probe" "$log" "$state"
      last_probe=$elapsed
    fi
    if ((interactive)); then
      printf '\r\033[K%s: %s, %s (log: %s)' "$name" "$STEP_STATUS" "$(step_duration "$elapsed")" "$log"
    elif ((elapsed >= next_report)); then
      if ((reported)); then
        echo "$name: $STEP_STATUS, $(step_duration "$elapsed")"
      else
        echo "$name: $STEP_STATUS, $(step_duration "$elapsed") (log: $log)"
        reported=1
      fi
      next_report=$(((elapsed / interval + 1) * interval))
    fi
  done
}

step_probe() {
  STEP_STATUS=$STEP_DOING
  [[ -n $1 ]] || return 0
  "step_probe_$1" "$2" "$3" 2>/dev/null || true
  [[ -n $STEP_STATUS ]] || STEP_STATUS=$STEP_DOING
}

# --- kernel: images/build-kernel.sh ------------------------------------------
# Progress is compiled objects (*.o files, "units") in the build's scratch tree
# out of the number the last successful build had, which is stored in the
# cache as $MVM_CACHE/kernel/units ("KEY COUNT"). Counting finished objects
# is what the build really produces and costs one find(1) over the tree;
# `make -n` would instead run kbuild's sub-makes and generators (most of a
# minute on a busy machine) and does not list objects one per line, and
# counting the .c files the configuration selects would mean parsing every
# kbuild Makefile. A cache with no previous build (a fresh machine) uses
# STEP_KERNEL_UNITS, the count of this configuration's build when it was last
# measured (958 objects, linux-source-6.1 6.1.192-3 with the fragment of commit
# ead2fbd, sampled every 6 s during a CI build: 956 two seconds before the
# end); either way the total is an estimate, shown as "~N".
STEP_KERNEL_UNITS=${STEP_KERNEL_UNITS:-958}

step_kernel_cache() { echo "${MVM_CACHE:-$HOME/.cache/mvm}/kernel"; }

# The most objects seen: the count never goes down during a build, but at its
# end build-kernel.sh removes the tree, and a look then sees fewer or none.
STEP_KERNEL_MAX=0

step_probe_kernel() {
  local log=$1 state=$2 line key scratch src count total
  # "build-kernel: building kernel KEY in SCRATCH (takes minutes)", printed
  # once build-kernel.sh holds the cache's lock.
  line=$(grep -m 1 '^build-kernel: building kernel ' "$log")
  if [[ -z $line ]]; then
    local lock
    lock=$(step_kernel_cache)/.lock
    if [[ -e $lock ]] && ! flock -n "$lock" true; then
      STEP_STATUS='waiting for another build of the kernel in the same cache'
    else
      STEP_STATUS='starting'
    fi
    return 0
  fi
  # "build-kernel: built kernel KEY in N s": what is left is copying it out
  # and removing the build tree.
  if grep -q '^build-kernel: built kernel ' "$log"; then
    STEP_STATUS="built, $STEP_KERNEL_MAX units; removing the build tree"
    return 0
  fi
  read -r _ _ _ key _ scratch _ <<<"$line"
  src=$scratch/linux-source-6.1
  if ((STEP_KERNEL_MAX == 0)); then
    if [[ ! -e $src/.config ]]; then
      STEP_STATUS='unpacking the source'
      return 0
    fi
    if [[ ! -e $src/include/generated/autoconf.h ]]; then
      STEP_STATUS='configuring'
      return 0
    fi
  fi
  count=$(find "$src" -name '*.o' -type f | wc -l)
  ((count > STEP_KERNEL_MAX)) && STEP_KERNEL_MAX=$count
  count=$STEP_KERNEL_MAX
  echo "$key $count" >"$state"
  total=$(step_kernel_total "$key")
  if ((count <= total)); then
    STEP_STATUS="$count/~$total units"
  else
    STEP_STATUS="$count units (more than the ~$total expected)"
  fi
}

step_kernel_total() {
  local key count
  if read -r key count <"$(step_kernel_cache)/units" 2>/dev/null && [[ $count =~ ^[0-9]+$ ]] && ((count > 0)); then
    echo "$count"
  else
    echo "$STEP_KERNEL_UNITS"
  fi
}

# After a build, the most objects seen becomes the next build's total. The
# last look before the end may miss the few objects compiled in the last
# seconds (the CI build at 17:42: 956 seen 2 s before the end, 958 in all).
step_done_kernel() {
  local key count
  read -r key count <"$2" 2>/dev/null || return 0
  [[ $count =~ ^[0-9]+$ ]] && ((count > 0)) || return 0
  echo "$key $count" >"$(step_kernel_cache)/units.tmp.$$" &&
    mv -f "$(step_kernel_cache)/units.tmp.$$" "$(step_kernel_cache)/units"
}

# --- helper: images/build-helper.sh ------------------------------------------
# Its phases, from the files it makes in its work directory (under the step's
# private TMPDIR): downloading the kernel package (bytes so far of the Size
# apt-cache gives), unpacking it (bytes so far of its Installed-Size), finding
# the modules the helper needs, writing the boot files, removing the work
# directory. A phase never goes back: the removal at the end deletes the
# files that mark the later phases first.
STEP_HELPER_PACKAGE=''
STEP_HELPER_SIZE=''
STEP_HELPER_INSTALLED=''
STEP_HELPER_PHASE=0

step_probe_helper() {
  local log=$1 work line pkg version bytes phase=0
  work=$(compgen -G "$STEP_TMP/mvm-helper-build.*" | head -n 1)
  line=$(grep -m 1 '^helper image: downloading ' "$log")
  if [[ -z $line ]]; then
    STEP_STATUS='finding the kernel package'
    return 0
  fi
  read -r _ _ _ pkg version <<<"$line"
  if [[ $STEP_HELPER_PACKAGE != "$pkg=$version" ]]; then
    STEP_HELPER_PACKAGE=$pkg=$version
    read -r STEP_HELPER_SIZE STEP_HELPER_INSTALLED < <(apt-cache show --no-all-versions "$pkg=$version" |
      awk '/^Size:/ {s = $2} /^Installed-Size:/ {i = $2} END {print s + 0, i * 1024}')
  fi
  if grep -q '^helper image: .* built (key ' "$log"; then phase=5
  elif [[ -e $work/initrd/init ]]; then phase=4
  elif [[ -d $work/initrd ]]; then phase=3
  elif [[ -d $work/pkg ]]; then phase=2
  elif [[ -n $work ]]; then phase=1
  fi
  ((phase > STEP_HELPER_PHASE)) && STEP_HELPER_PHASE=$phase
  case $STEP_HELPER_PHASE in
    5) STEP_STATUS='removing its work files' ;;
    4) STEP_STATUS='writing vmlinux and the initrd' ;;
    3) STEP_STATUS='copying modules' ;;
    2)
      bytes=$(du -sb "$work/pkg" 2>/dev/null | cut -f 1)
      if ((STEP_HELPER_INSTALLED > 0 && ${bytes:-0} < STEP_HELPER_INSTALLED * 98 / 100)); then
        STEP_STATUS="unpacking $pkg, $((bytes / 1048576))/$((STEP_HELPER_INSTALLED / 1048576)) MB"
      else
        STEP_STATUS="finding the helper's modules in $pkg"
      fi
      ;;
    1)
      bytes=$(find "$work" -maxdepth 2 -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
      if ((STEP_HELPER_SIZE > 0)); then
        STEP_STATUS="downloading $pkg, $((bytes / 1048576))/$((STEP_HELPER_SIZE / 1048576)) MB"
      else
        STEP_STATUS="downloading $pkg, $((bytes / 1048576)) MB"
      fi
      ;;
    *) STEP_STATUS='starting' ;;
  esac
}

# --- deps: images/lib/apt-deps.sh --------------------------------------------
# dpkg's "Unpacking"/"Setting up" lines against the count apt-deps.sh prints.
step_probe_deps() {
  local log=$1 total unpacked configured
  total=$(sed -n 's/^apt-deps: installing \([0-9]*\) packages.*/\1/p' "$log" | tail -n 1)
  if [[ -z $total ]]; then
    STEP_STATUS='updating the package lists'
    return 0
  fi
  unpacked=$(grep -c '^Unpacking ' "$log")
  configured=$(grep -c '^Setting up ' "$log")
  STEP_STATUS="$unpacked/$total packages unpacked, $configured/$total set up"
}

# What step_run leaves behind if it is interrupted (by ^C or a signal).
step_cleanup() {
  if [[ -n ${STEP_MONITOR:-} ]]; then
    kill "$STEP_MONITOR" 2>/dev/null
    step_interactive && echo
  fi
  [[ -n ${STEP_STATE:-} ]] && rm -f "$STEP_STATE"
  [[ -n ${STEP_TMP:-} ]] && rm -rf "$STEP_TMP"
  return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  trap step_cleanup EXIT
  # bash skips the EXIT trap when a signal kills it; exiting on the signal runs it.
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
  step_run "$@"
  exit
fi
