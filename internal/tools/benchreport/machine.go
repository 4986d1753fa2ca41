package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPU        string // model name
	Cores      int    // logical CPUs
	Memory     string // total, e.g. "24 GiB"
	Go         string // go version of the toolchain running the benchmarks
	OS         string // GOOS/GOARCH
	PostgreSQL string // server version pgtest starts, "" when none is found
	LoadBefore string // /proc/loadavg at the start (1, 5, 15 minutes)
	LoadAfter  string // at the end
}

// machine reads the facts of this machine.
func machine(ctx context.Context, dir string) (Machine, error) {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				var kb float64
				for _, c := range f[1] {
					kb = kb*10 + float64(c-'0')
				}
				m.Memory = num(kb/(1<<20)) + " GiB"
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadBefore = strings.Join(f[:3], " ")
		}
	}
	cmd := exec.CommandContext(ctx, goBin(), "env", "GOVERSION")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return m, err
	}
	m.Go = strings.TrimSpace(string(out))
	m.PostgreSQL = postgresVersion(ctx)
	return m, nil
}

// postgresVersion asks the postgres binary pgtest would start (PATH,
// /usr/local/bin, /usr/lib/postgresql/*/bin) for its version.
func postgresVersion(ctx context.Context) string {
	if u := os.Getenv("SEATWISE_TEST_POSTGRES_URL"); u != "" {
		return "the server of SEATWISE_TEST_POSTGRES_URL"
	}
	cands := []string{"postgres", "/usr/local/bin/postgres"}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	for i := len(dirs) - 1; i >= 0; i-- {
		cands = append(cands, dirs[i])
	}
	for _, c := range cands {
		if out, err := exec.CommandContext(ctx, c, "--version").Output(); err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return ""
}
