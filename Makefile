# mvm build, test and demo entry points. Every dependency is installed here
# (Debian packages with apt-get, npm packages with npm ci); slow artefacts
# (guest kernel, helper-VM image) are cached under $(MVM_CACHE), outside the
# clone, so a second run on the same machine skips them.

SHELL := /bin/bash
MVM_CACHE ?= $(HOME)/.cache/mvm
export MVM_CACHE

# Debian packages the build, the tests and the helper VM need.
APT_PACKAGES := qemu-system-x86 qemu-utils busybox-static cpio xz-utils \
  linux-source-6.1 flex bison bc libelf-dev libssl-dev gcc make tmux runc

MVM := node dist/src/cli/index.js
OUT := images/out

.PHONY: all deps apt-deps build kernel rootfs helper-image images test unit demo bench bench-disk clean

all: build images

deps: apt-deps node_modules/.package-lock.json

# Installs only what is missing, so a machine that has everything pays nothing.
apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules/.package-lock.json
	npx tsc -p .

kernel: apt-deps
	images/build-kernel.sh $(OUT)/vmlinux

rootfs: apt-deps
	images/build-rootfs.sh $(OUT)/initramfs.cpio.gz

helper-image: apt-deps
	images/build-helper.sh $(OUT)/helper

images: kernel rootfs helper-image

test: deps build images
	npx mocha

demo: deps build images
	$(MVM) run --memory 256M -- sh -c 'uname -a'

bench: deps build images bench-disk
	$(MVM) bench all

# qcow2 vs raw I/O and mvm vs qemu-img convert (needs only qemu-utils, no KVM).
bench-disk: deps build
	node dist/src/bench/disk/run.js

clean:
	rm -rf dist $(OUT)
