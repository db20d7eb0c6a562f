#!/usr/bin/env bash
# Install the programs that tests run beside authd, when they are missing.
#
#   .ci/deps.sh COMPONENT...   e.g. .ci/deps.sh nginx chromium
#
# Each component names the binary that proves it is installed and the Debian
# packages that provide it. Missing ones are installed with apt-get (update
# first), which needs root. Services that the packages would start at install
# time are kept from starting: the tests run their own instances, with their
# own configuration, on their own ports. Add a component with one line below.
set -euo pipefail

declare -A binary packages
binary[nginx]=/usr/sbin/nginx
packages[nginx]="nginx"
# The browser tests (hosted pages, passkeys) drive headless Chromium.
binary[chromium]=/usr/bin/chromium
packages[chromium]="chromium"

usage() { echo "usage: $0 COMPONENT... (known: ${!binary[*]})" >&2; exit 2; }
(($# > 0)) || usage

missing=()
for c in "$@"; do
	[[ -n "${binary[$c]:-}" ]] || { echo "deps.sh: unknown component '$c'" >&2; usage; }
	if [[ ! -x "${binary[$c]}" ]]; then
		read -ra pkgs <<<"${packages[$c]}"
		missing+=("${pkgs[@]}")
	fi
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: missing ${missing[*]}; run as root to install them, or install them yourself" >&2
	exit 1
fi
echo "deps.sh: installing Debian packages: ${missing[*]}" >&2

# invoke-rc.d asks policy-rc.d whether a package may start its service;
# 101 means "no". Put one in place for the install unless the machine has one.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
for c in "$@"; do
	[[ -x "${binary[$c]}" ]] || { echo "deps.sh: ${binary[$c]} is still missing after the install" >&2; exit 1; }
done
