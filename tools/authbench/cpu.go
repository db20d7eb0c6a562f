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

// takeCPU reads /proc: the machine's busy time, this process (pgbench
// included, as a waited-for child), the server and the PostgreSQL cluster
// whose postmaster is postmaster.
func takeCPU(serverPID, postmaster int) cpuSnapshot {
	return cpuSnapshot{
		at:     time.Now(),
		busy:   machineBusy(),
		self:   processCPU(os.Getpid(), true),
		server: processCPU(serverPID, true),
		pgb:    clusterCPU(postmaster),
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
	return fmt.Sprintf("machine %.2f cores busy: authd %.2f, authbench %.2f, PostgreSQL %.2f, everything else %.2f",
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

// processCPU returns the user and system time of pid, zero if it is gone,
// plus that of its waited-for children when children is set.
func processCPU(pid int, children bool) int64 {
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
	if len(fields) < 15 {
		return 0
	}
	last := 12 // stime; cutime and cstime follow
	if children {
		last = 14
	}
	var total int64
	for _, f := range fields[11 : last+1] {
		n, _ := strconv.ParseInt(f, 10, 64)
		total += n
	}
	return total
}

// parentPID returns the parent of pid, zero if it is gone.
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// clusterCPU returns the CPU time of a PostgreSQL cluster: the postmaster
// with every backend it has reaped, plus its live children (an exited one
// not yet reaped included). A backend reaped between the two readings
// would be counted in neither: when pgbench disconnects, all its backends
// go at once, and a whole run's CPU could vanish. So the postmaster is read
// again after its children, and the reading is taken only when no backend
// was reaped in between.
func clusterCPU(postmaster int) int64 {
	if postmaster == 0 {
		return 0
	}
	for attempt := 0; ; attempt++ {
		before := processCPU(postmaster, true)
		total := before
		paths, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range paths {
			pid, err := strconv.Atoi(filepath.Base(p))
			if err == nil && parentPID(pid) == postmaster {
				total += processCPU(pid, true)
			}
		}
		if processCPU(postmaster, true) == before || attempt == 20 {
			return total
		}
	}
}
