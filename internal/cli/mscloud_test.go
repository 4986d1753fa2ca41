package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
)

func TestMscloudCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errb strings.Builder
	a := &App{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errb, Env: func(string) (string, bool) { return "", false }}
	caFile := t.TempDir() + "/ca.pem"
	done := make(chan int, 1)
	go func() {
		done <- a.Run(ctx, []string{"mscloud", "--users", "12", "--environments", "2", "--tenants", "2", "--ca-file", caFile,
			"--fault", "graph.latency=1ms", "--throttle-rate", "0", "--http"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no JSON line: %v (stderr %s)", err, errb.String())
	}
	var info mscloud.Info
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatalf("first line is not JSON: %v: %q", err, line)
	}
	if len(info.Tenants) != 2 || len(info.Environments) != 2 || info.CAFile != caFile || info.ClientSecret == "" || info.HTTPBaseURL == "" ||
		!strings.HasPrefix(info.GraphURL, "https://127.0.0.1:") || !strings.HasSuffix(info.ControlURL, "/_mscloud") {
		t.Fatalf("info = %+v", info)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := hc.Get(info.LoginURL + "/" + info.TenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery over TLS with the CA file: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("discovery: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, stderr %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the simulator did not stop on cancel")
	}
}

func TestMscloudFaultSpec(t *testing.T) {
	var f mscloud.Faults
	for _, ok := range []string{"graph.throttle=0.5", "dataverse.latency=20ms", "login.next=throttle,drop", "graph.retry_after=1.5"} {
		if err := applyFaultSpec(&f, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if f.Graph.Throttle != 0.5 || time.Duration(f.Dataverse.Latency) != 20*time.Millisecond || len(f.Login.Next) != 2 || f.Graph.RetryAfter != 1.5 {
		t.Errorf("faults = %+v", f)
	}
	for _, bad := range []string{"graph", "cloud.throttle=1", "graph.explode=1", "graph.throttle=x", "graph.latency=fast"} {
		if err := applyFaultSpec(&f, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
