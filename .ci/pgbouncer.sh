#!/usr/bin/env bash
# Manage a private PgBouncer in transaction mode, in front of a PostgreSQL
# server, for tests and benchmarks.
#
#   .ci/pgbouncer.sh start DIR PORT UPSTREAM...  write DIR's configuration, start PgBouncer on
#                                                127.0.0.1:PORT in front of the server that the
#                                                libpq key=value pairs UPSTREAM name (for example
#                                                host=127.0.0.1 port=55432 user=postgres), print
#                                                the DSN of its postgres database
#   .ci/pgbouncer.sh status DIR                  exit 0 when the PgBouncer of DIR is running
#   .ci/pgbouncer.sh stop DIR                    stop it (no error when it is not running)
#   .ci/pgbouncer.sh install                     install Debian's pgbouncer package if missing
#
# Every database name a client asks for is passed through to the server (a
# "*" entry), so fresh test databases need no configuration. The pool mode is
# transaction: a server connection serves one transaction, then the next
# client's, which is what makes session state (prepared statements, SET,
# session advisory locks) unusable through it. Authentication is "trust":
# the user named by UPSTREAM's user= (postgres by default) is the only one
# listed, and the server is expected to trust 127.0.0.1, as the throw-away
# cluster of .ci/pg.sh does. PGBOUNCER_POOL_SIZE (default 20) bounds the
# server connections per database and user.
#
# It installs Debian's pgbouncer package when the binary is missing (as root,
# after apt-get update) and, when run as root, runs PgBouncer as the postgres
# OS user, like .ci/pg.sh runs PostgreSQL. When the PgBouncer of DIR is
# already running, start reuses it and prints the port it listens on.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT UPSTREAM... | status DIR | stop DIR | install" >&2; exit 2; }

find_bin() {
	local b
	for b in "${PGBOUNCER:-}" "$(command -v pgbouncer 2>/dev/null || true)" /usr/sbin/pgbouncer; do
		if [[ -n "$b" && -x "$b" ]]; then echo "$b"; return; fi
	done
	return 1
}

install_pgbouncer() {
	if find_bin >/dev/null; then return; fi
	echo "pgbouncer.sh: no pgbouncer binary; installing Debian's pgbouncer package" >&2
	if [[ $(id -u) -ne 0 ]]; then echo "pgbouncer.sh: need root to install pgbouncer" >&2; exit 1; fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends pgbouncer >&2
	# The package starts its own service (an empty configuration on port
	# 6432) unless policy-rc.d forbids it; nothing here uses that one.
	invoke-rc.d pgbouncer stop >/dev/null 2>&1 || true
	find_bin >/dev/null || { echo "pgbouncer.sh: pgbouncer still missing after the install" >&2; exit 1; }
}

# as_owner runs a command as the postgres OS user when run as root, from DIR
# so that it never needs access to the caller's working directory. The
# lock's file descriptor is closed so that PgBouncer does not hold it.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd "$dir" && runuser -u postgres -- "$@" 9>&-)
	else
		(cd "$dir" && "$@" 9>&-)
	fi
}

# pid prints the PID of DIR's PgBouncer and succeeds when it is running.
pid() {
	local p
	p=$(cat "$dir/pgbouncer.pid" 2>/dev/null || true)
	[[ "$p" =~ ^[0-9]+$ ]] || return 1
	[[ "$(cat "/proc/$p/comm" 2>/dev/null || true)" == pgbouncer ]] || return 1
	echo "$p"
}

cmd=${1:-}
case "$cmd" in
install)
	install_pgbouncer
	exit 0
	;;
start | status | stop) ;;
*) usage ;;
esac
dir=${2:-}
[[ -n "$dir" ]] || usage

case "$cmd" in
start)
	port=${3:-}
	[[ "$port" =~ ^[0-9]+$ ]] || usage
	shift 3
	(($# > 0)) || usage
	user=postgres
	for kv in "$@"; do
		[[ "$kv" =~ ^[a-z_]+=[^[:space:]\'\"]*$ ]] || { echo "pgbouncer.sh: bad upstream part '$kv' (want key=value)" >&2; exit 2; }
		[[ "$kv" == dbname=* ]] && { echo "pgbouncer.sh: leave dbname out: every database is passed through" >&2; exit 2; }
		[[ "$kv" == user=* ]] && user=${kv#user=}
	done
	install_pgbouncer
	bin=$(find_bin)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ $(id -u) -eq 0 ]]; then
		# The postgres user must reach DIR through every parent folder.
		p="$dir"; while [[ "$p" != "/" ]]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
		chown postgres "$dir"
	fi
	# Two callers starting the same PgBouncer at once must not both start it.
	exec 9>>"$dir/.pgbouncer.lock"
	flock 9
	if running_pid=$(pid); then
		port=$(sed -n 's/^listen_port = //p' "$dir/pgbouncer.ini")
	else
		# Unix socket paths are limited to about 100 bytes; TCP only for deep folders.
		sockdir="$dir"
		if (( ${#dir} > 80 )); then sockdir=""; fi
		printf '"%s" ""\n' "$user" >"$dir/userlist.txt"
		cat >"$dir/pgbouncer.ini" <<-EOF
			; Written by .ci/pgbouncer.sh; rewritten on every start.
			[databases]
			* = $*

			[pgbouncer]
			pool_mode = transaction
			listen_addr = 127.0.0.1
			listen_port = $port
			unix_socket_dir = $sockdir
			pidfile = $dir/pgbouncer.pid
			logfile = $dir/pgbouncer.log
			auth_type = trust
			auth_file = $dir/userlist.txt
			admin_users = $user
			max_client_conn = 1000
			default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
			log_connections = 0
			log_disconnections = 0
		EOF
		if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir/userlist.txt" "$dir/pgbouncer.ini"; fi
		: >"$dir/pgbouncer.log"
		[[ $(id -u) -ne 0 ]] || chown postgres "$dir/pgbouncer.log"
		as_owner "$bin" -d -q "$dir/pgbouncer.ini" || { tail -n 20 "$dir/pgbouncer.log" >&2; exit 1; }
		# PgBouncer keeps running when it cannot bind the TCP port (it still
		# has its Unix socket), so its log says whether start-up worked.
		up=""
		for _ in $(seq 100); do
			if grep -q "cannot listen on 127.0.0.1:$port" "$dir/pgbouncer.log"; then break; fi
			if pid >/dev/null && grep -q "listening on 127.0.0.1:$port" "$dir/pgbouncer.log"; then up=1; break; fi
			sleep 0.1
		done
		if [[ -z "$up" ]]; then
			echo "pgbouncer.sh: PgBouncer did not start listening on 127.0.0.1:$port" >&2
			tail -n 20 "$dir/pgbouncer.log" >&2
			if p=$(pid); then kill -TERM "$p" 2>/dev/null || true; fi
			exit 1
		fi
	fi
	echo "postgres://$user@127.0.0.1:$port/postgres?sslmode=disable"
	;;
status)
	[[ -d "$dir" ]] || exit 1
	dir=$(cd "$dir" && pwd)
	pid >/dev/null
	;;
stop)
	[[ -d "$dir" ]] || exit 0
	dir=$(cd "$dir" && pwd)
	if p=$(pid); then
		# SIGTERM: immediate shutdown, the clients' connections are closed.
		kill -TERM "$p" 2>/dev/null || true
		for _ in $(seq 100); do
			pid >/dev/null || exit 0
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	fi
	;;
esac
