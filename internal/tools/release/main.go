// Command release builds Seatwise's release binaries: static (CGO_ENABLED=0,
// -trimpath) executables for every target platform with the version, commit
// and build date stamped into `seatwise version`, a SHA256SUMS file, and on
// request the container image. Run it from the repository root:
//
//	go run ./internal/tools/release                        # all platforms into dist/
//	go run ./internal/tools/release -version 1.2.0         # an explicit version
//	go run ./internal/tools/release -targets linux/amd64 -check -image
//
// Flags:
//
//	-version V    version to stamp (default: `git describe --tags --always --dirty`, else "dev")
//	-commit C     commit to stamp (default: `git rev-parse HEAD`, else "unknown")
//	-date D       build date, RFC 3339 (default: the commit's time, so that a rebuild
//	              of one commit gives identical binaries; SOURCE_DATE_EPOCH wins when set)
//	-targets L    comma-separated GOOS/GOARCH list (default: every platform of Targets)
//	-out DIR      output directory (default dist, which git ignores); emptied first
//	-check        run the binary built for this machine (`seatwise version -o json`),
//	              compare the stamped values and, on Linux, check that it is static
//	-image        also build the container image with podman (Containerfile; needs the
//	              linux/amd64 or linux/arm64 binary among -targets)
//	-tag T        image name (default localhost/seatwise:VERSION)
//	-smoke        with -image: run `seatwise version` in the image and compare, then start
//	              serve in it and wait for `seatwise healthcheck --path /readyz` inside
//	-podman-flags, -run-flags  extra podman flags for -smoke (space-separated; see .ci/run)
//
// Outputs in -out: seatwise-VERSION-GOOS-GOARCH[.exe] per target, SHA256SUMS
// (verify with `sha256sum -c SHA256SUMS` there) and, with -image, the image
// build context image/ (binaries, CA certificates, empty data directory).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Targets are the platforms of a release.
var Targets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// stampPackage is where the version variables live (internal/cli/version.go).
const stampPackage = "github.com/seatwise/seatwise/internal/cli"

// mainPackage is the package built.
const mainPackage = "./cmd/seatwise"

// Stamp is what a release build writes into the binary.
type Stamp struct {
	Version string
	Commit  string
	Date    string // RFC 3339, UTC
}

// LDFlags returns the linker flags stamping s (and stripping symbol tables).
func LDFlags(s Stamp) string {
	return strings.Join([]string{"-s", "-w",
		"-X", stampPackage + ".version=" + s.Version,
		"-X", stampPackage + ".commit=" + s.Commit,
		"-X", stampPackage + ".date=" + s.Date,
	}, " ")
}

// BinaryName is the file name of the binary for one target.
func BinaryName(version, target string) string {
	goos, goarch, _ := strings.Cut(target, "/")
	name := "seatwise-" + version + "-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// parseTargets checks a comma-separated GOOS/GOARCH list.
func parseTargets(list string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		goos, goarch, ok := strings.Cut(t, "/")
		if !ok || goos == "" || goarch == "" || strings.Contains(goarch, "/") {
			return nil, fmt.Errorf("target %q is not GOOS/GOARCH", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no target given")
	}
	return out, nil
}

// WriteSums writes SHA256SUMS in dir for files (names relative to dir), in
// the format of sha256sum: "<hex>  <name>" per line, sorted by name.
func WriteSums(dir string, files []string) error {
	files = slices.Clone(files)
	sort.Strings(files)
	var b bytes.Buffer
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("hash %s: %w", name, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), b.Bytes(), 0o644)
}

// git runs git and returns its trimmed output, "" on failure.
func git(args ...string) string {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// defaultStamp derives the stamp from git and SOURCE_DATE_EPOCH.
func defaultStamp() Stamp {
	s := Stamp{Version: git("describe", "--tags", "--always", "--dirty"), Commit: git("rev-parse", "HEAD")}
	if s.Version == "" {
		s.Version = "dev"
	}
	if s.Commit == "" {
		s.Commit = "unknown"
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		if sec, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			s.Date = time.Unix(sec, 0).UTC().Format(time.RFC3339)
		}
	}
	if s.Date == "" {
		if ct := git("log", "-1", "--format=%ct"); ct != "" {
			if sec, err := strconv.ParseInt(ct, 10, 64); err == nil {
				s.Date = time.Unix(sec, 0).UTC().Format(time.RFC3339)
			}
		}
	}
	if s.Date == "" {
		s.Date = time.Now().UTC().Format(time.RFC3339)
	}
	return s
}

// build compiles one target into dir.
func build(ctx context.Context, dir, target string, s Stamp, stderr io.Writer) (string, error) {
	goos, goarch, _ := strings.Cut(target, "/")
	name := BinaryName(s.Version, target)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", LDFlags(s), "-o", filepath.Join(dir, name), mainPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", target, err)
	}
	return name, nil
}

// versionJSON is the output of `seatwise version -o json` that is checked.
type versionJSON struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Platform string `json:"platform"`
}

// checkVersion compares `seatwise version -o json` of the command line
// argv with s and the platform.
func checkVersion(ctx context.Context, argv []string, s Stamp, platform string) error {
	out, err := exec.CommandContext(ctx, argv[0], append(argv[1:], "version", "--output", "json")...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s version: %w: %s", strings.Join(argv, " "), err, ee.Stderr)
		}
		return fmt.Errorf("%s version: %w", strings.Join(argv, " "), err)
	}
	var v versionJSON
	if err := json.Unmarshal(out, &v); err != nil {
		return fmt.Errorf("%s version printed %q: %w", strings.Join(argv, " "), out, err)
	}
	want := versionJSON{Version: s.Version, Commit: s.Commit, Date: s.Date, Platform: platform}
	if v != want {
		return fmt.Errorf("%s version printed %+v, want %+v", strings.Join(argv, " "), v, want)
	}
	return nil
}

// checkStatic fails when the Linux binary at path asks for a dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has an ELF interpreter)", path)
		}
	}
	return nil
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := defaultStamp()
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s Stamp
	fs.StringVar(&s.Version, "version", def.Version, "version to stamp")
	fs.StringVar(&s.Commit, "commit", def.Commit, "commit to stamp")
	fs.StringVar(&s.Date, "date", def.Date, "build date (RFC 3339)")
	targetList := fs.String("targets", strings.Join(Targets, ","), "comma-separated GOOS/GOARCH list")
	out := fs.String("out", "dist", "output directory (emptied first)")
	check := fs.Bool("check", false, "run this machine's binary and compare `seatwise version`")
	image := fs.Bool("image", false, "build the container image with podman")
	tag := fs.String("tag", "", "image name (default localhost/seatwise:VERSION)")
	smoke := fs.Bool("smoke", false, "with -image: run `seatwise version` in the image")
	podman := fs.String("podman", "podman", "podman command")
	podmanFlags := fs.String("podman-flags", "", "global podman flags for -smoke (space-separated), e.g. --runtime runc")
	runFlags := fs.String("run-flags", "", "podman run flags for -smoke (space-separated), e.g. --ulimit nofile=1024:1024")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := time.Parse(time.RFC3339, s.Date); err != nil {
		return fmt.Errorf("-date %q is not RFC 3339", s.Date)
	}
	if s.Version == "" || strings.ContainsAny(s.Version, " /\\") {
		return fmt.Errorf("-version %q must be a non-empty word without slashes", s.Version)
	}
	targets, err := parseTargets(*targetList)
	if err != nil {
		return err
	}
	if _, err := os.Stat(mainPackage); err != nil {
		return fmt.Errorf("run from the repository root (%s not found)", mainPackage)
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var names []string
	for _, t := range targets {
		start := time.Now()
		name, err := build(ctx, *out, t, s, stderr)
		if err != nil {
			return err
		}
		if strings.HasPrefix(t, "linux/") {
			if err := checkStatic(filepath.Join(*out, name)); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "built %s (%s) in %s\n", filepath.Join(*out, name), t, time.Since(start).Round(100*time.Millisecond))
		names = append(names, name)
	}
	if err := WriteSums(*out, names); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, "SHA256SUMS"))
	host := runtime.GOOS + "/" + runtime.GOARCH
	if *check {
		if !slices.Contains(targets, host) {
			return fmt.Errorf("-check needs the target %s of this machine", host)
		}
		bin, err := filepath.Abs(filepath.Join(*out, BinaryName(s.Version, host)))
		if err != nil {
			return err
		}
		if err := checkVersion(ctx, []string{bin}, s, host); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "checked %s: version %s, commit %s, date %s\n", bin, s.Version, s.Commit, s.Date)
	}
	if *image {
		name := *tag
		if name == "" {
			name = "localhost/seatwise:" + s.Version
		}
		if err := buildImage(ctx, *podman, *out, name, s, targets, stdout, stderr); err != nil {
			return err
		}
		if *smoke {
			if err := smokeImage(ctx, *podman, strings.Fields(*podmanFlags), strings.Fields(*runFlags), name, s); err != nil {
				return fmt.Errorf("image smoke test: %w", err)
			}
			fmt.Fprintf(stdout, "checked image %s: seatwise version %s; serve started as user %s, wrote its database in the volume and answered seatwise healthcheck --path /readyz\n", name, s.Version, ImageUser)
		}
	}
	return nil
}

// hostArch is this machine's GOARCH.
func hostArch() string { return runtime.GOARCH }
