# mvm build, test and demo entry points. Every dependency is installed here
# (Debian packages with apt-get, npm packages with npm ci); slow artefacts
# (guest kernel, helper-VM image) are cached under $(MVM_CACHE), outside the
# clone, so a second run on the same machine skips them.

SHELL := /bin/bash
MVM_CACHE ?= $(HOME)/.cache/mvm
export MVM_CACHE

# Debian packages the build, the tests and the helper VM need.
# qemu-system-common (a dependency of qemu-system-x86, named for what mvm
# itself uses from it) ships /usr/lib/qemu/virtiofsd, the file server behind
# `mvm run --share`. podman (with conmon) and containerd are the real OCI
# clients the mvm-runtime specs drive (issue #16).
APT_PACKAGES := qemu-system-x86 qemu-system-common qemu-utils busybox-static cpio xz-utils \
  linux-source-6.1 flex bison bc libelf-dev libssl-dev gcc make tmux runc kmod e2fsprogs iproute2 \
  musl-tools curl podman conmon containerd

MVM := node dist/bundle/mvm.js
OUT := images/out

# Each step (deps, npm, build, kernel, rootfs, rootdisk, helper image, guests)
# prints one line: images/lib/step.sh keeps the step's own output (apt's,
# dpkg's, kconfig's, the compilers') in $(LOGS)/<step>.log, says where a long
# step is, and on failure shows the log's last lines and its path.
STEP := images/lib/step.sh
LOGS := $(OUT)/logs

.PHONY: all deps apt-deps build lint kernel rootfs rootdisk helper-image images guests test unit demo bench bench-disk bench-boot bench-disk-guest bench-fs-guest guest-tools clean

all: build images

deps: apt-deps node_modules/.package-lock.json

# Installs only what is missing, so a machine that has everything pays nothing.
apt-deps:
	@$(STEP) --progress deps deps $(LOGS)/deps.log images/lib/apt-deps.sh $(APT_PACKAGES)

# npm 11 (11.19 here) warns about every dependency install script that
# package.json's allowScripts does not cover; it still runs them for now, but
# with strict-allow-scripts, and by default in a later npm, they are refused.
# A script denied there (false) is skipped without a word. Both of ours are
# denied on purpose (npm install-scripts deny), because neither is needed:
#   koffi    its install script only checks that the prebuilt koffi.node of the
#            @koromix/koffi-<platform> package (installed as an optional
#            dependency) loads, and would otherwise compile koffi with cmake;
#            koffi loads that prebuilt file itself at run time.
#   esbuild  its postinstall checks the @esbuild/<platform> binary's version and
#            hard-links it over the bin/esbuild launcher; npx esbuild works
#            without that (the launcher finds the binary package).
node_modules/.package-lock.json: package.json package-lock.json
	@$(STEP) --doing 'npm ci' npm $(LOGS)/npm.log npm ci --no-audit --no-fund
	@touch $@

# tsc type-checks and compiles every module to dist/src/ (the specs import
# those); esbuild then bundles the entry points into dist/bundle/, which is what
# the `mvm` command runs: a few files to load instead of ~150 modules, so the
# CLI starts in ~70 ms instead of ~95 on this host and ~1.3 s instead of ~3 s
# under the helper VM's emulation. The bundle's chunks are loaded on demand per
# command (--splitting); koffi and blessed load native code or files by path
# at run time and stay in node_modules. The banner gives bundled CommonJS
# packages (commander) the require() that ESM output lacks.
BUNDLE_ENTRIES := mvm=dist/src/cli/index.js mvm-runtime=dist/src/oci/main.js vcpu-thread=dist/src/vmm/vcpu-thread.js \
  block-thread=dist/src/vmm/block-thread.js \
  helper-daemon=dist/src/helper/daemon.js helper-spare=dist/src/helper/spare.js \
  bench-koffi-loop=dist/src/bench/exit-loop/koffi-loop.js

build: node_modules/.package-lock.json
	@$(STEP) --doing 'tsc, then esbuild' build $(LOGS)/build.log $(MAKE) --no-print-directory compile

.PHONY: compile
compile:
	npx tsc -p .
	rm -rf dist/bundle
	npx esbuild $(BUNDLE_ENTRIES) --bundle --splitting --format=esm --platform=node --target=node20 \
	  --outdir=dist/bundle --external:koffi --external:blessed --log-level=warning \
	  '--banner:js=import { createRequire as mvmCreateRequire } from "node:module"; const require = mvmCreateRequire(import.meta.url);'
	@echo "dist/src (tsc) and dist/bundle (esbuild)"

# Biome lints TypeScript sources, specs and scripts and checks their format
# (biome.jsonc; `npx biome format --write` formats); check-layers.mjs
# fails when an import points up a floor (README, "How it fits together").
# A few seconds: `make test` runs it first.
lint: node_modules/.package-lock.json
	npx biome check
	node scripts/check-layers.mjs

# build-kernel.sh and build-helper.sh hash their own text into their cache
# keys, so their progress is reported from outside, by step.sh's probes, which
# watch the files they make: an edit to either would make every cache build
# its kernel or helper image anew.
kernel: apt-deps
	@$(STEP) --progress kernel kernel $(LOGS)/kernel.log images/build-kernel.sh $(OUT)/vmlinux

rootfs: apt-deps guest-tools
	@$(STEP) rootfs $(LOGS)/rootfs.log images/build-rootfs.sh $(OUT)/initramfs.cpio.gz

# The same files as an ext4 root disk, stored as qcow2 by mvm's own writer
# (so it needs the compiled CLI): mvm run --initrd '' --disk $(OUT)/rootfs.qcow2 ...
rootdisk: apt-deps build guest-tools
	@$(STEP) --doing 'mke2fs, then mvm image convert' rootdisk $(LOGS)/rootdisk.log images/build-rootdisk.sh $(OUT)/rootfs.qcow2

helper-image: apt-deps
	@$(STEP) --progress helper --private-tmp 'helper image' $(LOGS)/helper-image.log images/build-helper.sh $(OUT)/helper

images: kernel rootfs rootdisk helper-image guests

# Tiny test guests (firmware/guests/*.S): 64-bit ELF "kernels" that boot the
# way Linux does under mvm and exercise exits, interrupts and SMP in
# milliseconds, even on hosts whose KVM cannot run Linux itself.
GUEST_SOURCES := $(wildcard firmware/guests/*.S)
GUEST_COMMON := firmware/guests/common.S firmware/guests/guest.ld
GUESTS := $(patsubst firmware/guests/%.S,firmware/out/guests/%.elf,$(filter-out $(GUEST_COMMON),$(GUEST_SOURCES)))

guests: $(GUESTS)
	@echo "guests: $(words $(GUESTS)) test guests in firmware/out/guests"

firmware/out/guests/%.elf: firmware/guests/%.S $(GUEST_COMMON)
	@mkdir -p $(@D)
	@$(STEP) --quiet guests $(LOGS)/guests.log gcc -nostdlib -static -no-pie -Wl,-T,firmware/guests/guest.ld -Wl,--build-id=none -I firmware/guests -o $@ $<

# Static guest programs busybox lacks (firmware/guest-tools/*.c), put into the
# initramfs and the root disk by images/rootfs-contents.sh: mvm-vsock (vsock
# listen/connect), mvm-diskbench (timed O_DIRECT I/O) and mvm-oci-exec (an OCI
# container process: chroot, ids, rlimits; mvm-runtime). musl, because a
# static glibc program is ~700 KB and every boot unpacks the initramfs; -s and
# no build ID keep the images byte-for-byte reproducible.
GUEST_TOOLS := $(patsubst firmware/guest-tools/%.c,firmware/out/guest-tools/%,$(wildcard firmware/guest-tools/*.c))

guest-tools: apt-deps $(GUEST_TOOLS)

firmware/out/guest-tools/%: firmware/guest-tools/%.c
	@mkdir -p $(@D)
	@$(STEP) --quiet guest-tools $(LOGS)/guest-tools.log musl-gcc -static -Os -s -Wall -Wextra -Werror -Wl,--build-id=none -o $@ $<

test: deps lint build images
	npx mocha

# Boots a microVM that prints the guest's uname and powers off; --timing adds the boot time.
demo: deps build images
	$(MVM) run --memory 256M --timing -- uname -a

bench: deps build images bench-disk bench-boot bench-disk-guest

# qcow2 vs raw I/O and mvm vs qemu-img convert (needs only qemu-utils, no KVM).
bench-disk: deps build
	node dist/src/bench/disk/run.js

# VM-exit round trip (mvm's koffi path vs the same loop in C) and boot time
# (mvm vs QEMU microvm on the same kernel, inside the helper VM on hosts that need it).
bench-boot: deps build images firmware/out/bench/exit-loop
	$(MVM) bench boot

# In-guest virtio-blk I/O (mvm-diskbench on raw and qcow2) for mvm vs QEMU
# microvm on the same image, inside the helper VM on hosts that need it.
bench-disk-guest: deps build images
	$(MVM) bench guest-disk

# A shared folder inside the guest (mvm-fsbench): mvm's virtio-fs share vs an
# ext4 virtio-blk disk in mvm vs QEMU microvm's virtio-fs on the same
# virtiofsd and folder, inside the helper VM on hosts that need it.
bench-fs-guest: deps build images
	$(MVM) bench guest-fs

# Issue #6, mvm against QEMU microvm and runc containers on the same rootfs:
# boot, memory, disk footprint and density, and mvm against QEMU for disk I/O
# inside the guest (~20 min inside the helper VM on a PVM host), each writing
# images/out/bench/<name>.json; bench-report then writes docs/benchmarks.md
# and its charts (docs/benchmarks/*.svg) from them.
.PHONY: bench-compare bench-report
bench-compare: deps build images firmware/out/bench/exit-loop
	$(MVM) bench boot
	$(MVM) bench memory
	$(MVM) bench disk
	$(MVM) bench density
	$(MVM) bench guest-disk

bench-report: bench-compare
	$(MVM) bench report --out docs/benchmarks.md

# Issue #17: records the system calls the VMM makes (strace -f, unjailed, inside
# the helper VM when this host's KVM cannot run guests) and names those the
# seccomp allow-list in src/vmm/jail/syscall-allow-list.ts lacks.
.PHONY: seccomp-record
seccomp-record: deps build images
	scripts/record-vmm-syscalls.sh $(OUT)/seccomp

firmware/out/bench/exit-loop: firmware/bench/exit-loop.c
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -o $@ $<

clean:
	rm -rf dist $(OUT)
