package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// server is authd running as a child process.
type server struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	exited  chan struct{}
}

// buildServer compiles the main package in the directory pkg into dir,
// with the go.mod that holds pkg (authd's own, not the benchmark's), and
// writes a signing key next to it. It returns the binary and the key file.
func buildServer(ctx context.Context, pkg, dir string) (bin, key string, err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "authd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = pkg
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build in %s: %w\n%s", pkg, err, out)
	}
	key = filepath.Join(dir, "jwt.pem")
	if out, err := exec.CommandContext(ctx, bin, "gen-key", "--out", key).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("authd gen-key: %w\n%s", err, out)
	}
	// The encryption key of multi-factor authentication, beside the signing
	// key; an authd from before it had none to make.
	_ = exec.CommandContext(ctx, bin, "gen-encryption-key", "--out", encryptionKeyFile(key)).Run()
	return bin, key, nil
}

// encryptionKeyFile is the AUTHD_ENCRYPTION_KEY_FILE made beside the
// signing key key.
func encryptionKeyFile(key string) string { return filepath.Join(filepath.Dir(key), "encryption.key") }

// authdMain returns the directory of cmd/authd in the authd module as go
// list sees it from the working directory: authd's repository root, or
// tools/authbench, whose go.mod replaces authd with the repository.
func authdMain(ctx context.Context) (string, error) {
	root, err := authdRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("%w (or set -authd)", err)
	}
	return filepath.Join(root, "cmd", "authd"), nil
}

// authdRoot returns the root of the authd module as go list sees it from
// the working directory.
func authdRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "authd").Output()
	root := strings.TrimSpace(string(out))
	if err != nil || root == "" {
		return "", fmt.Errorf("cannot find the authd module from here (run authbench in authd's repository): go list -m authd: %v", err)
	}
	return root, nil
}

// startServer runs bin serve on a free 127.0.0.1 port against dsn, with
// rate limits and email off and otherwise default settings, and waits for
// /healthz. env, when given, is added last and so overrides those
// settings; name names the server's log file in dir.
func startServer(ctx context.Context, bin, key, dsn, dir, name string, env ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin, "serve")
	cmd.Env = append(serverEnviron(),
		"DATABASE_URL="+dsn,
		"HTTP_ADDR="+addr,
		"AUTHD_JWT_PRIVATE_KEY_FILE="+key,
		"AUTHD_RATE_LIMITS=off",
		// Metrics on a port of their own choosing: the default one may be taken.
		"AUTHD_METRICS_ADDR=127.0.0.1:0",
		"AUTHD_LOG_LEVEL=warn",
		"AUTHD_ENV=prod",
		// The benchmarks send no mail, but the reset phase's.
		"AUTHD_EMAIL=off",
		// Only the janitor phase's authd prunes (see bench.janitor).
		"AUTHD_PRUNE_INTERVAL=24h",
	)
	if _, err := os.Stat(encryptionKeyFile(key)); err == nil {
		cmd.Env = append(cmd.Env, "AUTHD_ENCRYPTION_KEY_FILE="+encryptionKeyFile(key))
	}
	// os/exec keeps the last value of a variable set twice.
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start authd: %w", err)
	}
	s := &server{cmd: cmd, addr: addr, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitHealthy(ctx, 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nauthd log:\n%s", err, s.logTail())
	}
	return s, nil
}

// serverEnviron is the environment without any authd setting, so that the
// server runs with its defaults (argon2id parameters above all).
func serverEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AUTHD_") || name == "DATABASE_URL" || name == "HTTP_ADDR" || name == "GOMAXPROCS" || name == "GOGC" || name == "GOMEMLIMIT" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy polls GET /healthz until it answers 200 or limit passes.
func (s *server) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("authd exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		code, _, err := fasthttp.GetTimeout(nil, "http://"+s.addr+"/healthz", time.Second)
		if err == nil && code == fasthttp.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("authd did not answer /healthz within %s", limit)
}

// stop sends SIGTERM and waits for the process, killing it after 20 s.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// logTail returns the last lines the server wrote.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// memory reads VmRSS and VmHWM (peak) of the server from /proc, in bytes.
func (s *server) memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kib << 10
		} else {
			peak = kib << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("VmRSS or VmHWM missing from /proc status")
	}
	return rss, peak, sc.Err()
}
