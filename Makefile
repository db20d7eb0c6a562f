# authd developer commands. `make` alone lists them.
#
# With no DATABASE_URL, the database targets start a private PostgreSQL cluster
# under .data/pg (see .ci/pg.sh); `make test` does the same under .data/test-pg
# unless AUTHD_TEST_DATABASE_URL is set, and stops it again afterwards.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

DATA         := .data
PGPORT      ?= 54329
TEST_PGPORT ?= 55432
PGDB        ?= authd
FUZZTIME    ?= 10s
FUZZ_PKGS   ?= ./adapters/httpapi ./domain
GO_TEST_FLAGS ?= -race -shuffle=on -count=1 -timeout=5m
# make test-cluster: the proofs under load, verbose so that their log shows what each saw.
CLUSTER_TEST_FLAGS ?= -race -count=1 -timeout=5m -v
# Programs the tests run beside authd; .ci/deps.sh installs the missing ones.
TEST_DEPS   ?= nginx chromium
BENCH_ARGS  ?=
# The benchmark harness: a Go module of its own, linted and tested with authd.
TOOL_DIR    := tools/authbench

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(DATA)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)
DEV_KEY       := $(DATA)/dev-jwt.pem
DEV_ENC_KEY   := $(DATA)/dev-encryption.key

# Mailpit catches the mail of make run, and the mail tests of make test
# start their own; both use this build, made once per version.
MAILPIT_VERSION   ?= v1.33.1
MAILPIT           := $(DATA)/bin/mailpit-$(MAILPIT_VERSION)
MAILPIT_SMTP_PORT ?= 1025
MAILPIT_UI_PORT   ?= 8025

# db_env exports DATABASE_URL, starting the private cluster when it is unset.
define db_env
if [[ -z "$${DATABASE_URL:-}" ]]; then
	DATABASE_URL=$$(.ci/pg.sh start $(DATA)/pg $(PGPORT) $(PGDB))
	export DATABASE_URL
	echo "using private PostgreSQL: $$DATABASE_URL (stop it with: .ci/pg.sh stop $(DATA)/pg)" >&2
fi
endef

# test_db_env exports AUTHD_TEST_DATABASE_URL, starting the private test
# cluster when it is unset and stopping it on exit if this run started it;
# as root it also installs Debian's PgBouncer now (when it is missing),
# rather than inside a test: the tests through a pooler start their own
# with .ci/pgbouncer.sh.
define test_db_env
if [[ -z "$${AUTHD_TEST_DATABASE_URL:-}" ]]; then
	if ! .ci/pg.sh status $(DATA)/test-pg; then
		trap '.ci/pg.sh stop $(DATA)/test-pg' EXIT
	fi
	AUTHD_TEST_DATABASE_URL=$$(.ci/pg.sh start $(DATA)/test-pg $(TEST_PGPORT))
	export AUTHD_TEST_DATABASE_URL
fi
if [[ $$(id -u) -eq 0 ]]; then .ci/pgbouncer.sh install; fi
endef

# server_env exports AUTHD_JWT_PRIVATE_KEY_FILE and AUTHD_ENCRYPTION_KEY_FILE
# (creating development keys once when they are unset) and AUTHD_ENV (dev,
# i.e. text logs, when unset).
define server_env
if [[ -z "$${AUTHD_JWT_PRIVATE_KEY_FILE:-}" ]]; then
	if [[ ! -s $(DEV_KEY) ]]; then
		mkdir -p $(DATA)
		go run ./cmd/authd gen-key --out $(DEV_KEY)
	fi
	export AUTHD_JWT_PRIVATE_KEY_FILE="$(CURDIR)/$(DEV_KEY)"
fi
if [[ -z "$${AUTHD_ENCRYPTION_KEY_FILE:-}" ]]; then
	if [[ ! -s $(DEV_ENC_KEY) ]]; then
		mkdir -p $(DATA)
		go run ./cmd/authd gen-encryption-key --out $(DEV_ENC_KEY)
	fi
	export AUTHD_ENCRYPTION_KEY_FILE="$(CURDIR)/$(DEV_ENC_KEY)"
fi
export AUTHD_ENV="$${AUTHD_ENV:-dev}"
endef

# mail_env points authd at the development Mailpit, starting it in the
# background when it is not running, unless AUTHD_SMTP_URL is set.
define mail_env
if [[ -z "$${AUTHD_SMTP_URL:-}" ]]; then
	if ! (exec 3<>/dev/tcp/127.0.0.1/$(MAILPIT_SMTP_PORT)) 2>/dev/null; then
		setsid $(MAILPIT) --smtp 127.0.0.1:$(MAILPIT_SMTP_PORT) --listen 127.0.0.1:$(MAILPIT_UI_PORT) \
			--database $(DATA)/mailpit.db --disable-version-check --smtp-disable-rdns --quiet \
			>$(DATA)/mailpit.log 2>&1 </dev/null &
		echo $$! >$(DATA)/mailpit.pid
		for _ in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$(MAILPIT_SMTP_PORT)) 2>/dev/null && break; sleep 0.1; done
	fi
	export AUTHD_SMTP_URL="smtp://127.0.0.1:$(MAILPIT_SMTP_PORT)"
	export AUTHD_MAIL_FROM="$${AUTHD_MAIL_FROM:-authd <authd@localhost>}"
	echo "mail goes to Mailpit: web UI on http://127.0.0.1:$(MAILPIT_UI_PORT) (make clean stops it)" >&2
fi
export AUTHD_PUBLIC_URL="$${AUTHD_PUBLIC_URL:-http://$${HTTP_ADDR:-127.0.0.1:8080}}"
endef

.PHONY: help
help: ## List the targets
	@echo "usage: make TARGET [VAR=value ...]"
	echo
	grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-16s %s\n", $$1, $$2}'
	echo
	echo "variables: PGPORT=$(PGPORT) TEST_PGPORT=$(TEST_PGPORT) FUZZTIME=$(FUZZTIME) GOLANGCI_LINT_VERSION=$(GOLANGCI_LINT_VERSION)"
	echo "           MAILPIT_VERSION=$(MAILPIT_VERSION) MAILPIT_SMTP_PORT=$(MAILPIT_SMTP_PORT) MAILPIT_UI_PORT=$(MAILPIT_UI_PORT)"

.PHONY: run
run: $(MAILPIT) ## Migrate and serve on HTTP_ADDR (private PostgreSQL under .data/pg unless DATABASE_URL is set; mail to Mailpit unless AUTHD_SMTP_URL is set)
	@$(db_env)
	$(server_env)
	$(mail_env)
	mkdir -p $(DATA)/bin
	go build -o $(DATA)/bin/migrate ./cmd/migrate
	go build -o $(DATA)/bin/authd ./cmd/authd
	$(DATA)/bin/migrate up
	exec $(DATA)/bin/authd serve

.PHONY: test
test: $(MAILPIT) ## Run every test with the race detector, PostgreSQL, PgBouncer, nginx, Mailpit and Chromium included, then fuzz briefly
	@.ci/deps.sh $(TEST_DEPS)
	export AUTHD_TEST_MAILPIT="$(CURDIR)/$(MAILPIT)"
	$(test_db_env)
	echo "go test $(GO_TEST_FLAGS) ./... (PostgreSQL: $$AUTHD_TEST_DATABASE_URL)"
	go test $(GO_TEST_FLAGS) ./...
	echo "go test $(GO_TEST_FLAGS) ./... in $(TOOL_DIR)"
	(cd $(TOOL_DIR) && go test $(GO_TEST_FLAGS) ./...)
	$(MAKE) fuzz

.PHONY: test-cluster
test-cluster: ## Run the scale-out and reliability proofs (cmd/authd, -tags cluster): nginx, PgBouncer, kill -9, restarts, under load
	@.ci/deps.sh $(TEST_DEPS)
	$(test_db_env)
	echo "go test -tags cluster $(CLUSTER_TEST_FLAGS) -run '^TestCluster' ./cmd/authd (PostgreSQL: $$AUTHD_TEST_DATABASE_URL)"
	go test -tags cluster $(CLUSTER_TEST_FLAGS) -run '^TestCluster' ./cmd/authd

.PHONY: fuzz
fuzz: ## Run each Fuzz* target in FUZZ_PKGS for FUZZTIME
	@for pkg in $(FUZZ_PKGS); do
		if [[ ! -d "$$pkg" ]]; then echo "fuzz: $$pkg does not exist, skipped"; continue; fi
		list=$$(go test -list '^Fuzz' "$$pkg")
		targets=$$(grep -E '^Fuzz' <<<"$$list" || true)
		if [[ -z "$$targets" ]]; then echo "fuzz: no Fuzz* targets in $$pkg"; continue; fi
		for t in $$targets; do
			for attempt in 1 2; do
				echo "go test -run='^$$' -fuzz='^$$t\$$' -fuzztime=$(FUZZTIME) $$pkg"
				if out=$$(go test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) "$$pkg" 2>&1); then
					echo "$$out"
					break
				fi
				echo "$$out"
				# Go before 1.27 can report the fuzz coordinator's own -fuzztime deadline as
				# a failure (golang/go#75804): a bare "context deadline exceeded", no failing
				# input written. Such a run found nothing; it is run once more.
				if [[ $$attempt == 1 ]] && grep -q '^    context deadline exceeded$$' <<<"$$out" &&
					! grep -q 'Failing input written' <<<"$$out"; then
					echo "fuzz: $$t stopped on the fuzz coordinator's own deadline (golang/go#75804) with no failing input; running it again"
					continue
				fi
				exit 1
			done
		done
	done

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt check, go vet and golangci-lint on authd and tools/authbench (all run; fails if any fails)
	@status=0
	unformatted=$$(find . \( -path ./.data -o -path ./.git \) -prune -o -name '*.go' -print | xargs -r gofmt -l)
	if [[ -n "$$unformatted" ]]; then
		echo "gofmt: these files need formatting (run make fmt):"; sed 's/^/  /' <<<"$$unformatted"; status=1
	fi
	# The cluster tag adds the proofs of make test-cluster; it is a superset.
	echo "go vet -tags cluster ./..."
	go vet -tags cluster ./... || status=1
	echo "golangci-lint $(GOLANGCI_LINT_VERSION) run ./..."
	$(GOLANGCI_LINT) run ./... || status=1
	# The tool's module is not part of ./...; it is held to the same configuration.
	echo "go vet ./... in $(TOOL_DIR)"
	(cd $(TOOL_DIR) && go vet ./...) || status=1
	echo "golangci-lint $(GOLANGCI_LINT_VERSION) run ./... in $(TOOL_DIR)"
	(cd $(TOOL_DIR) && "$(CURDIR)/$(GOLANGCI_LINT)" run --config "$(CURDIR)/.golangci.yml" ./...) || status=1
	exit $$status

# The linter is built once per version into .data/bin; go install with @version
# leaves go.mod and go.sum alone.
$(GOLANGCI_LINT):
	@mkdir -p $(DATA)/bin/tmp
	echo "building golangci-lint $(GOLANGCI_LINT_VERSION) into $(DATA)/bin (first time only)"
	GOBIN="$(CURDIR)/$(DATA)/bin/tmp" go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(DATA)/bin/tmp/golangci-lint $@
	rmdir $(DATA)/bin/tmp

$(MAILPIT):
	@mkdir -p $(DATA)/bin/tmp-mailpit
	echo "building Mailpit $(MAILPIT_VERSION) into $(DATA)/bin (first time only)"
	GOBIN="$(CURDIR)/$(DATA)/bin/tmp-mailpit" go install github.com/axllent/mailpit@$(MAILPIT_VERSION)
	mv $(DATA)/bin/tmp-mailpit/mailpit $@
	rmdir $(DATA)/bin/tmp-mailpit

.PHONY: fmt
fmt: ## Format every Go file with gofmt
	@find . \( -path ./.data -o -path ./.git \) -prune -o -name '*.go' -print | xargs -r gofmt -l -w

.PHONY: migrate-up migrate-down migrate-status migrate-check
migrate-up: ## Apply pending migrations
	@$(db_env)
	go run ./cmd/migrate up

migrate-down: ## Roll back the last migration group
	@$(db_env)
	go run ./cmd/migrate down

migrate-status: ## Show applied and pending migrations
	@$(db_env)
	go run ./cmd/migrate status

migrate-check: ## Compare the bun models with the migrated schema
	@$(db_env)
	go run ./cmd/migrate check

.PHONY: bench
bench: ## Build and run tools/authbench with BENCH_ARGS on a private cluster under .data/bench-pg unless AUTHBENCH_ADMIN_DSN is set
	@# authbench is a module of its own, so that its dependencies stay out of
	# authd's go.mod. It runs from here and builds ./cmd/authd with authd's go.mod.
	mkdir -p $(DATA)/bin
	go build -C $(TOOL_DIR) -o "$(CURDIR)/$(DATA)/bin/authbench" .
	# authbench creates, migrates and drops its own database through an admin DSN.
	# Its own cluster keeps the dev database of make run out of the measurement;
	# it is stopped afterwards only if this run started it.
	if [[ -z "$${AUTHBENCH_ADMIN_DSN:-}" ]]; then
		if ! .ci/pg.sh status $(DATA)/bench-pg; then
			trap '.ci/pg.sh stop $(DATA)/bench-pg' EXIT
		fi
		# pg_stat_statements counts the statements of the mfa phase's ceremonies.
		AUTHBENCH_ADMIN_DSN=$$(PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements" .ci/pg.sh start $(DATA)/bench-pg $${BENCH_PGPORT:-55433})
		export AUTHBENCH_ADMIN_DSN
	fi
	$(DATA)/bin/authbench $(BENCH_ARGS)

.PHONY: clean
clean: ## Stop the private PostgreSQL clusters and Mailpit, and remove .data
	@if [[ -s $(DATA)/mailpit.pid ]] && pid=$$(cat $(DATA)/mailpit.pid) && \
		[[ "$$(cat /proc/$$pid/cmdline 2>/dev/null | tr '\0' ' ')" == *mailpit* ]]; then
		kill "$$pid"
	fi
	.ci/pg.sh stop $(DATA)/pg
	.ci/pg.sh stop $(DATA)/test-pg
	.ci/pg.sh stop $(DATA)/bench-pg
	rm -rf $(DATA)
