// Command migrate manages authd's database schema with bun's migrator.
//
// Usage:
//
//	migrate [command]
//
// The database is named by the DATABASE_URL environment variable. Commands:
//
//	init          create bun's bookkeeping tables
//	up            apply every pending migration, as one group
//	down          roll back the last group
//	status        list applied and pending migrations
//	create NAME   write an empty up/down pair into migrations/ (-dir to change)
//	lock          take bun's migration table lock (for manual maintenance)
//	unlock        release bun's migration table lock
//	mark-applied  record every pending migration as applied without running it
//	check         compare the bun models with the live schema; exit 1 on drift
//	check-emails  list stored emails the current normalisation rules would
//	              store differently or refuse; exit 1 when there are any
//	normalize-emails
//	              rewrite those whose normal form is free; list and leave the
//	              others (a look-alike of another account, a refused address)
//
// up, down, init and mark-applied hold a PostgreSQL advisory lock while they
// run, so concurrent deploys are safe.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"authd/adapters/postgres"
)

const usage = `usage: migrate <command>

Commands (the database is named by DATABASE_URL):
  init          create the migration bookkeeping tables
  up            apply every pending migration, as one group
  down          roll back the last group of migrations
  status        list applied and pending migrations
  create [-dir DIR] NAME
                write DIR/<timestamp>_NAME.tx.up.sql and .tx.down.sql (DIR defaults to migrations)
  lock          take bun's migration table lock
  unlock        release bun's migration table lock
  mark-applied  record every pending migration as applied without running it
  check         compare the bun models with the live schema; exit 1 listing each difference
  check-emails  list stored emails that the current rules (NFC, IDNA A-label domain, no
                invisible characters) would store differently or refuse; exit 1 if any
  normalize-emails
                rewrite those whose normal form no other user has; list the others and exit 1
`

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "create":
		return create(rest, stdout, stderr)
	}

	dbCommands := map[string]func(context.Context, *bun.DB, io.Writer) error{
		"init":         initTables,
		"up":           up,
		"down":         down,
		"status":       status,
		"lock":         lock,
		"unlock":       unlock,
		"mark-applied": markApplied,
		"check":        check,

		"check-emails":     checkEmails,
		"normalize-emails": normalizeEmails,
	}
	fn, ok := dbCommands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "migrate: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	if len(rest) != 0 {
		fmt.Fprintf(stderr, "migrate: %s takes no arguments\n\n%s", cmd, usage)
		return exitUsage
	}
	dsn := getenv("DATABASE_URL")
	if dsn == "" {
		fmt.Fprintln(stderr, "migrate: DATABASE_URL is not set")
		return exitError
	}
	opts := postgres.DefaultPoolOptions()
	opts.MaxOpenConns = 4 // the advisory lock holds one connection while the migrator uses others
	// Migrations may rewrite large tables: allow long statements.
	opts.ReadTimeout = time.Hour
	db, err := postgres.Open(dsn, opts)
	if err != nil {
		fmt.Fprintf(stderr, "migrate: %v\n", err)
		return exitError
	}
	defer db.Close()

	if err := fn(ctx, db, stdout); err != nil {
		var drift postgres.SchemaDrift
		if errors.As(err, &drift) {
			fmt.Fprintf(stderr, "migrate check: the schema differs from the models in %d place(s):\n", len(drift))
			for _, d := range drift {
				fmt.Fprintf(stderr, "  - %s\n", d)
			}
			return exitError
		}
		fmt.Fprintf(stderr, "migrate %s: %v\n", cmd, err)
		return exitError
	}
	return exitOK
}

func initTables(ctx context.Context, db *bun.DB, w io.Writer) error {
	err := postgres.WithMigrationLock(ctx, db, func(ctx context.Context) error {
		return postgres.NewMigrator(db).Init(ctx)
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "migration tables ready")
	return nil
}

func up(ctx context.Context, db *bun.DB, w io.Writer) error {
	g, err := postgres.Up(ctx, db)
	if g != nil && len(g.Migrations) > 0 {
		verb := "applied"
		if err != nil {
			verb = "stopped in"
		}
		fmt.Fprintf(w, "%s group %d: %s\n", verb, g.ID, names(g.Migrations))
	} else if err == nil {
		fmt.Fprintln(w, "nothing to migrate: the database is up to date")
	}
	return err
}

func down(ctx context.Context, db *bun.DB, w io.Writer) error {
	g, err := postgres.Down(ctx, db)
	if g != nil && len(g.Migrations) > 0 {
		verb := "rolled back"
		if err != nil {
			verb = "stopped rolling back"
		}
		fmt.Fprintf(w, "%s group %d: %s\n", verb, g.ID, names(g.Migrations))
	} else if err == nil {
		fmt.Fprintln(w, "nothing to roll back")
	}
	return err
}

func markApplied(ctx context.Context, db *bun.DB, w io.Writer) error {
	return postgres.WithMigrationLock(ctx, db, func(ctx context.Context) error {
		m := postgres.NewMigrator(db)
		if err := m.Init(ctx); err != nil {
			return err
		}
		g, err := m.Migrate(ctx, migrate.WithNopMigration())
		if err != nil {
			return err
		}
		if g.IsZero() {
			fmt.Fprintln(w, "nothing to mark: no pending migrations")
			return nil
		}
		fmt.Fprintf(w, "marked as applied (group %d, not run): %s\n", g.ID, names(g.Migrations))
		return nil
	})
}

func lock(ctx context.Context, db *bun.DB, w io.Writer) error {
	m := postgres.NewMigrator(db)
	if err := m.Init(ctx); err != nil {
		return err
	}
	if err := m.Lock(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "migration table locked; run \"migrate unlock\" to release it")
	return nil
}

func unlock(ctx context.Context, db *bun.DB, w io.Writer) error {
	m := postgres.NewMigrator(db)
	if err := m.Init(ctx); err != nil {
		return err
	}
	if err := m.Unlock(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "migration table unlocked")
	return nil
}

func status(ctx context.Context, db *bun.DB, w io.Writer) error {
	m := postgres.NewMigrator(db)
	if err := postgres.WithMigrationLock(ctx, db, m.Init); err != nil {
		return err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return err
	}
	missing, err := m.MissingMigrations(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MIGRATION\tNAME\tSTATUS\tGROUP\tMIGRATED AT")
	applied := 0
	for _, mig := range ms {
		if mig.IsApplied() {
			applied++
			fmt.Fprintf(tw, "%s\t%s\tapplied\t%d\t%s\n", mig.Name, mig.Comment, mig.GroupID, mig.MigratedAt.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(tw, "%s\t%s\tpending\t-\t-\n", mig.Name, mig.Comment)
		}
	}
	for _, mig := range missing {
		fmt.Fprintf(tw, "%s\t%s\tapplied, file missing\t%d\t%s\n", mig.Name, mig.Comment, mig.GroupID, mig.MigratedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d applied, %d pending, last group %d\n", applied, len(ms)-applied, ms.LastGroupID())
	if len(missing) > 0 {
		fmt.Fprintf(w, "warning: %d applied migration(s) have no file in this build\n", len(missing))
	}
	return nil
}

var migrationName = regexp.MustCompile(`^[0-9a-z_\-]+$`)

// create writes an empty, transactional up/down pair named after the
// current UTC time, bun's id format.
func create(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "migrations", "directory of the migration files")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "migrate: create needs exactly one NAME\n\n%s", usage)
		return exitUsage
	}
	name := fs.Arg(0)
	if !migrationName.MatchString(name) {
		fmt.Fprintf(stderr, "migrate: migration name %q must use only a-z, 0-9, _ and -\n", name)
		return exitUsage
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "migrate: %s is not a directory (run from the repository root or pass -dir)\n", *dir)
		return exitError
	}
	base := time.Now().UTC().Format("20060102150405") + "_" + name
	for _, f := range []struct{ suffix, body string }{
		{".tx.up.sql", "-- " + name + ": schema change. Runs in one transaction.\n"},
		{".tx.down.sql", "-- " + name + ": undo exactly what the up file does.\n"},
	} {
		path := filepath.Join(*dir, base+f.suffix)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "migrate: %v\n", err)
			return exitError
		}
		_, werr := io.WriteString(fh, f.body)
		if err := errors.Join(werr, fh.Close()); err != nil {
			fmt.Fprintf(stderr, "migrate: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "created %s\n", path)
	}
	return exitOK
}

func names(ms migrate.MigrationSlice) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name + "_" + m.Comment
	}
	return strings.Join(out, ", ")
}
