package cli

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	stdout, stderr, code := runCLI(t, nil, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"version:", "commit:", "date:", "go version:", runtime.Version()} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	stdout, _, code = runCLI(t, nil, "version", "-o", "json")
	var b BuildInfo
	if err := json.Unmarshal([]byte(stdout), &b); err != nil || code != 0 {
		t.Fatalf("json: %v %d %q", err, code, stdout)
	}
	if b.Version == "" || b.Commit == "" || b.Date == "" || b.GoVersion == "" || b.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("build info %+v", b)
	}
	// version ignores a broken configuration.
	if _, stderr, code := runCLI(t, map[string]string{"SEATWISE_DATABASE": "nope://"}, "version"); code != 0 {
		t.Errorf("version with bad config: %d %s", code, stderr)
	}
}

func TestBuildInfoFallback(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name string
		in   BuildInfo
		want BuildInfo
	}{
		{"unstamped", BuildInfo{}, BuildInfo{Version: "v1.4.0", Commit: "0123abcd", Date: "2026-11-01T10:00:00Z", Modified: true, GoVersion: "go1.26.8"}},
		{"stamped", BuildInfo{Version: "1.5.0", Commit: "ffff", Date: "2026-11-02T00:00:00Z"}, BuildInfo{Version: "1.5.0", Commit: "ffff", Date: "2026-11-02T00:00:00Z", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		if got := fillFromBuildInfo(tt.in, info); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	if got := fillFromBuildInfo(BuildInfo{}, devel); got.Version != "" {
		t.Errorf("(devel) taken as version: %+v", got)
	}
}
