// Package deploy holds the deployment examples (compose.yaml,
// seatwise.service); its tests check them against the product.
package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/config"
)

// TestSystemdUnit checks the unit's sandboxing and credential settings and
// has systemd-analyze verify it (with ExecStart pointed at an executable
// that exists here): any warning fails.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("seatwise.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/seatwise serve",
		"DynamicUser=yes",
		"ProtectSystem=strict",
		"NoNewPrivileges=yes",
		"StateDirectory=seatwise",
		"LoadCredential=seatwise.key:/etc/seatwise/seatwise.key",
		"Environment=SEATWISE_SECRET_KEY_FILE=%d/seatwise.key",
		"Environment=SEATWISE_DATABASE=sqlite:///var/lib/seatwise/seatwise.db",
		"CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("seatwise.service has no %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIP: systemd-analyze is not installed; the unit was not verified")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "seatwise.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/seatwise", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// systemd's own exposure score of the sandbox (0 best, 10 worst):
	// the unit scores 1.4; fail above 2.0.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v)\n%s", err, out)
	}
}

// TestComposeFile parses compose.yaml (with a Python YAML parser, when one
// is installed) and checks PostgreSQL, two Seatwise instances on it, and
// that secrets come from the environment file.
func TestComposeFile(t *testing.T) {
	var parsed []byte
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		out, err := exec.Command(py, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(open('compose.yaml')), sys.stdout)").Output()
		if err == nil {
			parsed = out
			break
		}
	}
	if parsed == nil {
		t.Skip("SKIP: no python3 with the yaml module (Debian: python3-yaml); compose.yaml was not parsed")
	}
	type service struct {
		Image       string            `json:"image"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		DependsOn   map[string]any    `json:"depends_on"`
		ReadOnly    bool              `json:"read_only"`
	}
	var c struct {
		Services map[string]service `json:"services"`
	}
	if err := json.Unmarshal(parsed, &c); err != nil {
		t.Fatal(err)
	}
	if pg, ok := c.Services["postgres"]; !ok || !strings.Contains(pg.Image, "postgres") {
		t.Errorf("no postgres service: %+v", c.Services)
	}
	var instances []string
	ports := map[string]bool{}
	for name, s := range c.Services {
		if !strings.HasPrefix(s.Image, "localhost/seatwise") {
			continue
		}
		instances = append(instances, name)
		if len(s.Command) == 0 || s.Command[0] != "serve" || slices.Contains(s.Command, "--no-jobs") {
			t.Errorf("%s: command %v, want serve running jobs", name, s.Command)
		}
		if !strings.HasPrefix(s.Environment["SEATWISE_DATABASE"], "postgres://") || !strings.Contains(s.Environment["SEATWISE_DATABASE"], "@postgres:5432/") {
			t.Errorf("%s: database %q is not the postgres service", name, s.Environment["SEATWISE_DATABASE"])
		}
		if !strings.Contains(s.Environment["SEATWISE_SECRET_KEY"], "${SEATWISE_SECRET_KEY") {
			t.Errorf("%s: the secret key does not come from the environment file", name)
		}
		if _, ok := s.DependsOn["postgres"]; !ok || !s.ReadOnly {
			t.Errorf("%s: depends on %v, read-only %v", name, s.DependsOn, s.ReadOnly)
		}
		for _, p := range s.Ports {
			if ports[p] {
				t.Errorf("port %s published twice", p)
			}
			ports[p] = true
		}
	}
	if len(instances) != 2 {
		t.Errorf("Seatwise instances %v, want 2", instances)
	}
}

// TestVariablesExist: every SEATWISE_* variable named by the deployment
// files, the Containerfile and the operator docs is one Seatwise reads.
func TestVariablesExist(t *testing.T) {
	known := map[string]bool{}
	for _, o := range config.Options() {
		for _, v := range []string{o.Env, o.FileEnv} {
			if v != "" {
				known[v] = true
			}
		}
	}
	re := regexp.MustCompile(`SEATWISE_[A-Z0-9_]+`)
	for _, f := range []string{"compose.yaml", "seatwise.service", "../Containerfile", "../docs/operations.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range re.FindAllString(string(b), -1) {
			if !known[v] && !strings.HasPrefix(v, "SEATWISE_BENCH") {
				t.Errorf("%s names %s, which no configuration option reads", f, v)
			}
		}
	}
}
