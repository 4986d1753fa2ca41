package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ServerCPU returns the CPU time (user and system) the private cluster's
// processes have used so far: the postmaster and the children it has
// reaped, and the children still running (backends, checkpointer, WAL
// writer, autovacuum). Take it before and after a piece of work and
// subtract. A backend that exits between the two readings is counted
// whether the postmaster has reaped it yet or not: a reading during which
// the postmaster reaped a child (its children's time moved) is taken
// again, so that no child is missed or counted twice. ok is false without
// a private cluster (SEATWISE_TEST_POSTGRES_URL, none started yet), where
// /proc cannot tell (outside Linux), or when children kept exiting through
// every one of many readings.
func ServerCPU() (cpu time.Duration, ok bool) {
	mu.Lock()
	s := srv
	mu.Unlock()
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0, false
	}
	pm := s.cmd.Process.Pid
	for range 100 {
		f, ok := procStat(pm)
		if !ok {
			return 0, false
		}
		// utime, stime, cutime, cstime: fields 14 to 17 of /proc/PID/stat.
		ticks := f[11] + f[12] + f[13] + f[14]
		reaped := f[13] + f[14]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == pm {
				continue
			}
			if c, ok := procStat(pid); ok && c[1] == int64(pm) {
				ticks += c[11] + c[12]
			}
		}
		// A child reaped after the postmaster's line was read and before
		// its own was is in neither: read again.
		if g, ok := procStat(pm); !ok || g[13]+g[14] != reaped {
			continue
		}
		// USER_HZ is 100 on every Linux platform Go supports.
		return time.Duration(ticks) * (time.Second / 100), true
	}
	return 0, false
}

// procStat returns the numeric fields of /proc/PID/stat after the command
// name, from the fourth (ppid, index 1) on; index i is field i+3. Fields
// that are not numbers read as 0.
func procStat(pid int) ([]int64, bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, false
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return nil, false
	}
	fs := strings.Fields(string(raw[i+1:]))
	if len(fs) < 15 {
		return nil, false
	}
	out := make([]int64, len(fs))
	for j, v := range fs {
		out[j], _ = strconv.ParseInt(v, 10, 64)
	}
	return out, true
}
