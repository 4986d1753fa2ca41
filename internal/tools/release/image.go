package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// caBundle is where Debian's ca-certificates package keeps the bundle the
// image ships (the image has no package manager; the bundle is copied in).
var caBundle = "/etc/ssl/certs/ca-certificates.crt"

// containerfile is the Containerfile at the repository root.
const containerfile = "Containerfile"

// ImageUser is the numeric user and group the image runs as.
const ImageUser = "65532:65532"

// stageImage lays out the build context of the Containerfile in dir/image:
// the Linux binaries as seatwise-linux-ARCH, the CA bundle and an empty
// data directory. It returns the context directory and the architectures
// staged.
func stageImage(dir string, s Stamp, targets []string) (string, []string, error) {
	ctxDir := filepath.Join(dir, "image")
	if err := os.MkdirAll(filepath.Join(ctxDir, "data"), 0o755); err != nil {
		return "", nil, err
	}
	var arches []string
	for _, t := range targets {
		goos, arch, _ := strings.Cut(t, "/")
		if goos != "linux" {
			continue
		}
		if err := copyFile(filepath.Join(dir, BinaryName(s.Version, t)), filepath.Join(ctxDir, "seatwise-linux-"+arch), 0o755); err != nil {
			return "", nil, err
		}
		arches = append(arches, arch)
	}
	if len(arches) == 0 {
		return "", nil, fmt.Errorf("-image needs a linux target among -targets")
	}
	if err := copyFile(caBundle, filepath.Join(ctxDir, "ca-certificates.crt"), 0o644); err != nil {
		return "", nil, fmt.Errorf("CA certificates (install Debian's ca-certificates): %w", err)
	}
	return ctxDir, arches, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// buildImage stages the context and runs podman build for this machine's
// architecture when it was built (else the first Linux one), then checks
// the image's configuration.
func buildImage(ctx context.Context, podman, dir, tag string, s Stamp, targets []string, stdout, stderr io.Writer) error {
	ctxDir, arches, err := stageImage(dir, s, targets)
	if err != nil {
		return err
	}
	arch := arches[0]
	if host := hostArch(); slices.Contains(arches, host) {
		arch = host
	}
	args := []string{"build", "--format", "docker", "--file", containerfile, "--tag", tag,
		"--build-arg", "TARGETARCH=" + arch,
		"--build-arg", "VERSION=" + s.Version,
		"--build-arg", "COMMIT=" + s.Commit,
		"--build-arg", "DATE=" + s.Date,
		ctxDir}
	cmd := exec.CommandContext(ctx, podman, args...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	fmt.Fprintf(stdout, "%s %s\n", podman, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("podman build: %w", err)
	}
	if err := checkImage(ctx, podman, tag); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built image %s (linux/%s)\n", tag, arch)
	return nil
}

// imageConfig is the part of `podman image inspect` that is checked.
type imageConfig struct {
	Config struct {
		User         string              `json:"User"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Volumes      map[string]struct{} `json:"Volumes"`
		Entrypoint   []string            `json:"Entrypoint"`
	} `json:"Config"`
	// podman reports the health check beside Config.
	Healthcheck *struct {
		Test []string `json:"Test"`
	} `json:"Healthcheck"`
}

// checkImage verifies that the image runs as a numeric non-root user,
// exposes the port, declares the data volume and has a health check.
func checkImage(ctx context.Context, podman, tag string) error {
	out, err := exec.CommandContext(ctx, podman, "image", "inspect", tag).Output()
	if err != nil {
		return fmt.Errorf("podman image inspect %s: %w", tag, err)
	}
	var cs []imageConfig
	if err := json.Unmarshal(out, &cs); err != nil || len(cs) != 1 {
		return fmt.Errorf("podman image inspect %s: %d images, %v", tag, len(cs), err)
	}
	c := cs[0]
	var problems []string
	if c.Config.User != ImageUser {
		problems = append(problems, fmt.Sprintf("user %q, want %s", c.Config.User, ImageUser))
	}
	if _, ok := c.Config.ExposedPorts["8080/tcp"]; !ok {
		problems = append(problems, "port 8080/tcp not exposed")
	}
	if _, ok := c.Config.Volumes["/var/lib/seatwise"]; !ok {
		problems = append(problems, "no volume /var/lib/seatwise")
	}
	if c.Healthcheck == nil || !slices.Contains(c.Healthcheck.Test, "healthcheck") {
		problems = append(problems, "no HEALTHCHECK running seatwise healthcheck")
	}
	if len(problems) > 0 {
		return fmt.Errorf("image %s: %s", tag, strings.Join(problems, "; "))
	}
	return nil
}

// smokeImage runs the image twice without network: `seatwise version`
// (compared with the stamp), then the default command (serve) in the
// background until `seatwise healthcheck --path /readyz` succeeds inside it
// (the database is created in the volume by the unprivileged user).
func smokeImage(ctx context.Context, podman string, global, run []string, tag string, s Stamp) error {
	pod := func(args ...string) []string { return append(append([]string{podman}, global...), args...) }
	runArgs := append(append([]string{"run", "--rm", "--network", "none"}, run...), tag)
	if err := checkVersion(ctx, pod(runArgs...), s, "linux/"+hostArch()); err != nil {
		return err
	}
	name := fmt.Sprintf("seatwise-smoke-%d", os.Getpid())
	start := pod(append(append([]string{"run", "--detach", "--name", name, "--network", "none"}, run...), tag)...)
	if out, err := exec.CommandContext(ctx, start[0], start[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(start, " "), err, out)
	}
	defer func() {
		rm := pod("rm", "--force", name)
		exec.Command(rm[0], rm[1:]...).Run() //nolint:errcheck // best effort cleanup
	}()
	check := pod("exec", name, "/usr/local/bin/seatwise", "healthcheck", "--path", "/readyz", "--timeout", "2s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, check[0], check[1:]...).CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			logs := pod("logs", name)
			l, _ := exec.Command(logs[0], logs[1:]...).CombinedOutput()
			return fmt.Errorf("%s: %w: %s\ncontainer log:\n%s", strings.Join(check, " "), err, out, l)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
