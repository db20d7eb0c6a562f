#!/usr/bin/env bash
# Manage a private PostgreSQL cluster for development and tests.
#
#   .ci/pg.sh start DIR PORT [DBNAME]  initialise DIR if needed, start it on 127.0.0.1:PORT,
#                                      create DBNAME if it is missing, print the admin DSN
#                                      (to DBNAME, or to the postgres database)
#   .ci/pg.sh status DIR               exit 0 when the cluster in DIR is running
#   .ci/pg.sh stop DIR                 stop the cluster in DIR (no error when it is not running)
#
# It uses the machine's PostgreSQL server binaries (installing Debian's
# postgresql package when none are found; PG_BINDIR overrides the search) and,
# when run as root, runs the server as the postgres OS user, since PostgreSQL
# refuses to run as root. Authentication is "trust" on 127.0.0.1 only: this is
# a throw-away cluster for one developer or one CI job. PG_FSYNC=off trades
# durability for speed (CI). PG_OPTIONS adds server settings to the start
# (make bench: "-c shared_preload_libraries=pg_stat_statements").
#
# When the cluster in DIR is already running, start reuses it and prints the
# port it actually listens on, which may differ from PORT.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT [DBNAME] | status DIR | stop DIR" >&2; exit 2; }

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

# as_owner runs a command as the cluster's owner, from DIR so that the postgres
# user never needs access to the caller's working directory. The lock's file
# descriptor is closed so that the server does not inherit (and hold) the lock.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd "$dir" && runuser -u postgres -- "$@" 9>&-)
	else
		(cd "$dir" && "$@" 9>&-)
	fi
}

running() { as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || usage

case "$cmd" in
start)
	port=${3:-}
	dbname=${4:-}
	[[ "$port" =~ ^[0-9]+$ ]] || usage
	[[ -z "$dbname" || "$dbname" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "pg.sh: bad database name '$dbname'" >&2; exit 2; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	bindir=$(find_bindir)
	data="$dir/data"
	if [[ $(id -u) -eq 0 ]]; then
		# The postgres user must reach DIR through every parent folder.
		p="$dir"; while [[ "$p" != "/" ]]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
		chown postgres "$dir"
	fi
	# Two callers starting the same cluster at once must not both run initdb or pg_ctl start.
	exec 9>>"$dir/.pg.lock"
	flock 9
	if [[ ! -s "$data/PG_VERSION" ]]; then
		as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	if ! running; then
		# Unix socket paths are limited to about 100 bytes; fall back to TCP only for deep folders.
		sockdir="$dir"
		if (( ${#dir} > 80 )); then sockdir=""; fi
		as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$sockdir' -c max_connections=200 -c shared_buffers=256MB -c fsync=${PG_FSYNC:-on} ${PG_OPTIONS:-}" >/dev/null \
			|| { tail -n 30 "$dir/server.log" >&2; exit 1; }
	fi
	# postmaster.pid line 4 holds the port the running server listens on.
	actual=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
	if [[ "$actual" =~ ^[0-9]+$ ]]; then port=$actual; fi
	if [[ -n "$dbname" ]]; then
		psql="$bindir/psql"; [[ -x "$psql" ]] || psql=psql
		q=(env PGCONNECT_TIMEOUT=10 "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA)
		if [[ -z "$("${q[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$dbname'")" ]]; then
			"${q[@]}" -c "CREATE DATABASE \"$dbname\"" >/dev/null
		fi
	fi
	echo "postgres://postgres@127.0.0.1:$port/${dbname:-postgres}?sslmode=disable"
	;;
status)
	[[ -d "$dir" ]] || exit 1
	dir=$(cd "$dir" && pwd)
	data="$dir/data"
	[[ -s "$data/PG_VERSION" ]] || exit 1
	bindir=$(find_bindir)
	running
	;;
stop)
	[[ -d "$dir" ]] || exit 0
	dir=$(cd "$dir" && pwd)
	data="$dir/data"
	if [[ -s "$data/PG_VERSION" ]]; then
		bindir=$(find_bindir)
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	;;
*)
	usage
	;;
esac
