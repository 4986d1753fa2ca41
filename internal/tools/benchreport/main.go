// Command benchreport runs every benchmark of Seatwise one after the other,
// in one run on this machine, and writes BENCHMARKS.md: the method, the
// machine (CPU, cores, memory, Go and PostgreSQL versions, load), each
// figure with the command that measures it, and each target met or missed
// by how much.
//
// Run it from the repository root:
//
//	go run ./internal/tools/benchreport            # full sizes (about half an hour on 2 cores)
//	go run ./internal/tools/benchreport -quick     # small sizes, to check the tool and the benchmarks
//
// Flags: -quick (small sizes; fixed-size benchmarks are only listed), -o FILE
// (default BENCHMARKS.md; "-" for standard output), -only REGEXP (sections
// whose id matches: sync, refresh, backfill, recon, reclaim, load, api,
// store, copy, jobs, simulator, tenant, clients), -v (stream the go test
// output to standard error). Every benchmark is a `go test -bench` function
// reporting its figures with b.ReportMetric; this command runs
// `go test PKG -run '^$' -bench PATTERN -benchtime 1x` with the section's
// environment and parses the standard result lines. A benchmark that fails
// or does not exist yet is reported as such, with the reason; the exit
// status is then 1 (sections whose benchmark is still being written
// aside).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "small sizes: check that the tool and every benchmark work (fixed-size benchmarks are only listed)")
	out := flag.String("o", "BENCHMARKS.md", `file to write ("-" for standard output)`)
	only := flag.String("only", "", "run only the sections whose id matches this regular expression")
	verbose := flag.Bool("v", false, "stream the go test output to standard error")
	replay := flag.String("replay", "", "write the report from the standard error of an earlier run with -v (same sections and sizes) instead of running the benchmarks")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: -only %q: %v\n", *only, err)
			os.Exit(2)
		}
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	o := Options{Quick: *quick, Only: filter, Log: log, Progress: os.Stderr}
	if *replay != "" {
		b, err := os.ReadFile(*replay)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: -replay: %v\n", err)
			os.Exit(2)
		}
		st, _ := os.Stat(*replay)
		o.Replay, o.ReplayEnd, o.Progress = string(b), st.ModTime(), io.Discard
	}
	rep, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
	md := rep.Markdown()
	if *out == "-" {
		os.Stdout.WriteString(md)
	} else if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	} else {
		fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	}
	if rep.Failed() {
		os.Exit(1)
	}
}

// Options tune Run.
type Options struct {
	Quick    bool
	Only     *regexp.Regexp // nil: every section
	Dir      string         // repository root ("" = current directory)
	Log      io.Writer      // go test output (nil discards)
	Progress io.Writer      // one line per benchmark run (nil discards)
	// Replay, when set, is the standard error of an earlier run with -v
	// (Log and Progress together): the figures are read from it instead of
	// running the benchmarks; ReplayEnd is when that run ended.
	Replay    string
	ReplayEnd time.Time
}

// Report is what one run measured.
type Report struct {
	Quick    bool
	Replayed bool // written from the log of the run (-replay)
	Machine  Machine
	Start    time.Time
	Took     time.Duration
	Sections []SectionResult
}

// SectionResult is a section with its results and the entries that could
// not be measured.
type SectionResult struct {
	Section
	Results  []Result
	Commands []string // the commands run, for the reader
	Missing  []string // entries not measured, with the reason
	// Failures are entries that reported figures but failed (a check of
	// the benchmark's own, such as a target it asserts).
	Failures []string
}

// Failed reports whether some entry failed or was not measured, pending
// sections (benchmarks not written yet) aside.
func (r *Report) Failed() bool {
	for _, s := range r.Sections {
		if len(s.Failures) > 0 || len(s.Missing) > 0 && !pending[s.ID] {
			return true
		}
	}
	return false
}

// Run runs the sections' benchmarks one after the other. It fails only
// when go cannot be run at all; a failing benchmark is recorded in its
// section (Missing).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	rep := &Report{Quick: o.Quick, Start: time.Now().UTC()}
	var replayTook time.Duration
	m, err := machine(ctx, o.Dir)
	if err != nil {
		return nil, err
	}
	rep.Machine = m
	for _, s := range sections() {
		if o.Only != nil && !o.Only.MatchString(s.ID) {
			continue
		}
		sr := SectionResult{Section: s}
		for _, e := range s.Entries {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			env, bt := e.Env, e.Benchtime
			if o.Quick && e.QuickEnv != nil {
				env = e.QuickEnv
			}
			if o.Quick && e.QuickBenchtime != "" {
				bt = e.QuickBenchtime
			}
			if bt == "" {
				bt = "1x"
			}
			args := []string{"test", e.Pkg, "-run", "^$", "-bench", e.Bench, "-benchtime", bt, "-benchmem", "-timeout", "120m"}
			if o.Quick && e.QuickList {
				args = []string{"test", e.Pkg, "-list", e.Bench}
			}
			sr.Commands = append(sr.Commands, command(env, args))
			start := time.Now()
			fmt.Fprintf(o.Progress, "%s: %s ", s.ID, command(env, args))
			var output []byte
			var err error
			if o.Replay != "" {
				var took time.Duration
				output, took, err = replayed(o.Replay, s.ID+": "+command(env, args)+" ")
				replayTook += took
			} else {
				output, err = goCmd(ctx, o.Dir, env, args, o.Log)
			}
			fmt.Fprintf(o.Progress, "(%s)\n", time.Since(start).Round(time.Second))
			if o.Quick && e.QuickList {
				if err != nil || !regexp.MustCompile(`(?m)^Benchmark`).Match(output) {
					sr.Missing = append(sr.Missing, fmt.Sprintf("no benchmark matching `%s` in %s%s", e.Bench, e.Pkg, tail(output)))
				}
				continue
			}
			// A benchmark that fails after reporting (a target checked
			// with b.Errorf) still has its figures.
			rs, perr := Parse(bytes.NewReader(output))
			if perr != nil {
				return nil, perr
			}
			if err != nil && len(rs) > 0 {
				sr.Failures = append(sr.Failures, fmt.Sprintf("`%s` reported its figures, then failed: %v%s", command(env, args), err, tail(output)))
			} else if err != nil {
				sr.Missing = append(sr.Missing, fmt.Sprintf("`%s` failed: %v%s", command(env, args), err, tail(output)))
			} else if len(rs) == 0 && s.Pending != "" {
				sr.Missing = append(sr.Missing, "not measured yet: "+s.Pending)
			} else if len(rs) == 0 {
				sr.Missing = append(sr.Missing, fmt.Sprintf("no benchmark matching `%s` in %s reported a result (not written yet, or skipped: no PostgreSQL?)%s",
					e.Bench, e.Pkg, tail(output)))
			}
			for i := range rs {
				rs[i].Pkg = e.Pkg
			}
			sr.Results = append(sr.Results, rs...)
		}
		sortByDB(sr.Results)
		rep.Sections = append(rep.Sections, sr)
	}
	rep.Took = time.Since(rep.Start)
	if m2, err := machine(ctx, o.Dir); err == nil {
		rep.Machine.LoadAfter = m2.LoadBefore
	}
	if o.Replay != "" {
		rep.Replayed = true
		rep.Took = replayTook
		rep.Start = o.ReplayEnd.Add(-replayTook).UTC()
		rep.Machine.LoadBefore, rep.Machine.LoadAfter = "", ""
	}
	return rep, nil
}

var tookRE = regexp.MustCompile(`(?m)^\(([0-9hms.]+)\)$`)

// replayed returns the output of the command that begins with head in the
// log of an earlier run, up to its "(duration)" line, with that duration;
// the error says the command failed (its output has a FAIL line) or is
// not in the log.
func replayed(log, head string) ([]byte, time.Duration, error) {
	i := strings.Index(log, head)
	if i < 0 {
		return nil, 0, fmt.Errorf("not in the replayed log")
	}
	rest := log[i+len(head):]
	m := tookRE.FindStringSubmatchIndex(rest)
	if m == nil {
		return nil, 0, fmt.Errorf("unfinished in the replayed log")
	}
	out := rest[:m[0]]
	took, _ := time.ParseDuration(rest[m[2]:m[3]])
	if regexp.MustCompile(`(?m)^(FAIL|--- FAIL)`).MatchString(out) {
		return []byte(out), took, fmt.Errorf("exit status 1")
	}
	return []byte(out), took, nil
}

// goCmd runs the go command in dir with env added, copying its output to
// log, and returns the output.
func goCmd(ctx context.Context, dir string, env, args []string, log io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, goBin(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, log)
	cmd.Stderr = io.MultiWriter(&buf, log)
	err := cmd.Run()
	return buf.Bytes(), err
}

// goBin is the go command of the toolchain running this program when
// there is one, else go from PATH.
func goBin() string {
	if p := runtime.GOROOT(); p != "" {
		if _, err := os.Stat(p + "/bin/go"); err == nil {
			return p + "/bin/go"
		}
	}
	return "go"
}

// command is the shell form of a go invocation with its environment.
func command(env, args []string) string {
	var b strings.Builder
	for _, e := range env {
		b.WriteString(e + " ")
	}
	b.WriteString("go")
	for _, a := range args {
		if strings.ContainsAny(a, "^$|()*? ") {
			a = "'" + a + "'"
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

// tail returns the last lines of a failed run's output, indented.
func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "\n\n    " + strings.Join(lines, "\n    ")
}
