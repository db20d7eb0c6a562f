// Command authd is the authentication server.
//
// Usage:
//
//	authd [serve]                  run the HTTP server (the default)
//	authd create-admin --email E   create or promote an active admin; the password is read from stdin
//	authd gen-key --out PATH       write a new Ed25519 signing key (PKCS#8 PEM)
//	authd prune                    delete, once, what has served its purpose (the janitor's pass)
//	authd gen-encryption-key [--out PATH]
//	                               write a new encryption key (appended to PATH: rotation)
//
// Configuration comes from environment variables; see README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"authd/adapters/jwt"
	"authd/adapters/password"
	"authd/adapters/postgres"
	"authd/application"
	"authd/domain"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches the subcommand and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		if len(args) > 0 {
			err = fmt.Errorf("serve takes no arguments (configuration comes from the environment), got %q", args)
			break
		}
		err = serve()
	case "create-admin":
		err = createAdmin(args, stdin, stdout)
	case "prune":
		err = prune(args, stdout)
	case "gen-key":
		err = genKey(args, stdout)
	case "gen-encryption-key":
		fs := flag.NewFlagSet("gen-encryption-key", flag.ContinueOnError)
		out := fs.String("out", "", "key file to append the new key to (standard output when empty)")
		if err = fs.Parse(args); err == nil {
			err = genEncryptionKey(*out, stdout)
		}
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: authd [serve] | create-admin --email EMAIL | gen-key --out PATH | gen-encryption-key [--out PATH] | prune")
		return 0
	default:
		err = fmt.Errorf("unknown command %q (want serve, create-admin, gen-key, gen-encryption-key or prune)", cmd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "authd:", err)
		return 1
	}
	return 0
}

func serve() error {
	cfg, err := LoadConfig(os.Getenv)
	if err == nil {
		err = cfg.requireServe()
	}
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	app := newApp(cfg)
	if err := app.Err(); err != nil {
		return err
	}
	app.Run()
	return nil
}

func genKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen-key", flag.ContinueOnError)
	out := fs.String("out", "", "path of the PEM file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("gen-key: --out is required")
	}
	if err := jwt.GenerateKeyFile(*out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", *out)
	return nil
}

// createAdmin creates an active admin, or promotes and re-activates an
// existing user and sets the given password.
func createAdmin(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	email := fs.String("email", "", "email of the admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return errors.New("create-admin: --email is required")
	}
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")

	db, err := postgres.Open(cfg.DatabaseURL, cfg.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	hasher, err := password.NewHasher(cfg.Argon2, cfg.HashConcurrency, cfg.HashQueue)
	if err != nil {
		return err
	}
	// The notice to an existing user whose password is set is queued here
	// and delivered by a running server.
	mail, err := newMailTemplates(cfg)
	if err != nil {
		return err
	}
	uc := application.New(withMail(useCaseDeps(cfg, db, systemClock{}, hasher, nil, application.NoLimits, nil), cfg, mail, cfg.Issuer)).CreateAdmin
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, created, err := uc.Do(ctx, *email, pw)
	if err != nil {
		var verr *domain.ValidationError
		if errors.As(err, &verr) {
			return fmt.Errorf("create-admin: %s", verr.Error())
		}
		return fmt.Errorf("create-admin: %w", err)
	}
	verb := "promoted existing user"
	if created {
		verb = "created admin"
	}
	fmt.Fprintf(stdout, "%s %s (id %d)\n", verb, u.Email(), u.ID())
	return nil
}

// systemClock is the real clock.
type systemClock struct{}

// Now returns the current time.
func (systemClock) Now() time.Time { return time.Now() }
