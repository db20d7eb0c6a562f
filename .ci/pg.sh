#!/usr/bin/env bash
# Manage a private PostgreSQL cluster for development and tests.
#
#   .ci/pg.sh start DIR PORT   initialise DIR if needed, start on 127.0.0.1:PORT, print the DSN
#   .ci/pg.sh stop DIR         stop the cluster in DIR (no error when it is not running)
#
# It uses the machine's PostgreSQL server binaries (installing Debian's
# postgresql package when none are found) and, when run as root, runs the
# server as the postgres OS user, since PostgreSQL refuses to run as root.
set -euo pipefail

find_bindir() {
	if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
	if [[ -z "$d" ]]; then
		echo "pg.sh: no PostgreSQL server binaries; installing Debian's postgresql package" >&2
		if [[ $(id -u) -ne 0 ]]; then echo "pg.sh: need root to install postgresql" >&2; exit 1; fi
		apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
	fi
	echo "$d"
}

as_owner() {
	if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bindir=$(find_bindir)
data="$dir/data"

case "$cmd" in
start)
	port=${3:?usage: $0 start DIR PORT}
	if [[ $(id -u) -eq 0 ]]; then
		# The postgres user must reach DIR through every parent folder.
		p="$dir"; while [[ "$p" != "/" ]]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
		chown postgres "$dir"
	fi
	if [[ ! -s "$data/PG_VERSION" ]]; then
		as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c max_connections=200 -c shared_buffers=256MB -c fsync=${PG_FSYNC:-on}" >/dev/null \
			|| { tail -n 30 "$dir/server.log" >&2; exit 1; }
	fi
	echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	;;
stop)
	if [[ -s "$data/PG_VERSION" ]]; then
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	;;
*)
	echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2
	;;
esac
