package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc on Linux.
const clockTicks = 100

// otherLoadWarning is the CPU share of unrelated processes, in cores,
// above which a phase's numbers are flagged as disturbed.
const otherLoadWarning = 0.25

// cpuSnapshot is the CPU time used so far by the machine and by each party
// of the benchmark, in clock ticks.
type cpuSnapshot struct {
	at                      time.Time
	busy, self, server, pgb int64
}

// takeCPU reads /proc: the machine's busy time, this process, the server
// and the PostgreSQL backends connected to the benchmark database.
func takeCPU(serverPID int, dbName string) cpuSnapshot {
	return cpuSnapshot{
		at:     time.Now(),
		busy:   machineBusy(),
		self:   processCPU(os.Getpid()),
		server: processCPU(serverPID),
		pgb:    backendsCPU(dbName),
	}
}

// cpuUse is the average number of cores each party kept busy.
type cpuUse struct {
	machine, self, server, pg, other float64
}

// since returns the cores used between a and b.
func (b cpuSnapshot) since(a cpuSnapshot) cpuUse {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return cpuUse{}
	}
	cores := func(d int64) float64 { return float64(d) / clockTicks / secs }
	u := cpuUse{
		machine: cores(b.busy - a.busy),
		self:    cores(b.self - a.self),
		server:  cores(b.server - a.server),
		pg:      cores(b.pgb - a.pgb),
	}
	u.other = max(0, u.machine-u.self-u.server-u.pg)
	return u
}

// String describes the use in cores.
func (u cpuUse) String() string {
	return fmt.Sprintf("machine %.2f cores busy: authd %.2f, authbench %.2f, PostgreSQL backends %.2f, everything else %.2f",
		u.machine, u.server, u.self, u.pg, u.other)
}

// machineBusy returns the non-idle time of all CPUs from /proc/stat.
func machineBusy() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	var busy int64
	for i, f := range fields[1:] {
		if i >= 8 { // guest time is already counted in user time
			break
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return busy
}

// processCPU returns the user and system time of pid, zero if it is gone.
func processCPU(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

// backendsCPU sums the CPU time of the PostgreSQL backends whose process
// title names dbName ("postgres: USER DB HOST ...").
func backendsCPU(dbName string) int64 {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var total int64
	for _, p := range paths {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(cmdline, []byte("postgres: ")) || !bytes.Contains(cmdline, []byte(" "+dbName+" ")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil {
			total += processCPU(pid)
		}
	}
	return total
}
