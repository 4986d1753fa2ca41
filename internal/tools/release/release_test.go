package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLDFlags(t *testing.T) {
	got := LDFlags(Stamp{Version: "1.2.0", Commit: "abc", Date: "2026-01-02T03:04:05Z"})
	for _, want := range []string{
		"-X github.com/seatwise/seatwise/internal/cli.version=1.2.0",
		"-X github.com/seatwise/seatwise/internal/cli.commit=abc",
		"-X github.com/seatwise/seatwise/internal/cli.date=2026-01-02T03:04:05Z",
		"-s -w",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("LDFlags = %q, missing %q", got, want)
		}
	}
	// The stamped variables exist where the flags point.
	src, err := os.ReadFile("../../cli/version.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"version = \"\"", "commit  = \"\"", "date    = \"\""} {
		if !strings.Contains(string(src), v) {
			t.Errorf("internal/cli/version.go has no %q: the release stamps nothing", v)
		}
	}
}

func TestParseTargets(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"linux/amd64", "linux/amd64", false},
		{" linux/amd64 , windows/amd64,linux/amd64", "linux/amd64 windows/amd64", false},
		{"linux", "", true},
		{"linux/amd64/v3", "", true},
		{"", "", true},
		{"/amd64", "", true},
	}
	for _, tt := range tests {
		got, err := parseTargets(tt.in)
		if (err != nil) != tt.err || strings.Join(got, " ") != tt.want {
			t.Errorf("parseTargets(%q) = %v, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestBinaryName(t *testing.T) {
	if got := BinaryName("1.0.0", "windows/amd64"); got != "seatwise-1.0.0-windows-amd64.exe" {
		t.Errorf("windows: %s", got)
	}
	if got := BinaryName("1.0.0", "darwin/arm64"); got != "seatwise-1.0.0-darwin-arm64" {
		t.Errorf("darwin: %s", got)
	}
}

func TestWriteSums(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"b": "hello\n", "a": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteSums(dir, []string{"b", "a"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum output for the same files.
	want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\n" +
		"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  b\n"
	if string(got) != want {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", got, want)
	}
}

// TestContainerfile checks the Containerfile against what the release
// command stages and checks (the image build itself runs in .ci/run).
func TestContainerfile(t *testing.T) {
	b, err := os.ReadFile("../../../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	cf := string(b)
	for _, want := range []string{
		"FROM scratch",
		"COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
		"COPY seatwise-linux-${TARGETARCH} /usr/local/bin/seatwise",
		"USER " + ImageUser,
		"EXPOSE 8080",
		"VOLUME /var/lib/seatwise",
		`CMD ["/usr/local/bin/seatwise", "healthcheck"]`,
		"SEATWISE_LISTEN=:8080",
	} {
		if !strings.Contains(cf, want) {
			t.Errorf("Containerfile has no %q", want)
		}
	}
}
