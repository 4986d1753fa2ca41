package mscloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestExpireAccessTokensAndGraphAudience(t *testing.T) {
	b := setup(t, 5, 1)
	// The public-cloud Graph scope is accepted too and yields aud https://graph.microsoft.com.
	st, body := b.postForm(t, b.tokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {b.info.ClientID}, "client_secret": {b.info.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}, "", "")
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(body, &r)
	if c := decodeClaims(t, r.AccessToken); c["aud"] != "https://graph.microsoft.com" {
		t.Errorf("aud = %v", c["aud"])
	}
	if st, _, _ := b.call(t, "GET", b.info.GraphURL+"/organization", r.AccessToken, nil); st != 200 {
		t.Errorf("Graph with aud https://graph.microsoft.com: %d", st)
	}
	dv := b.envToken(t, 0)
	b.control(t, "POST", "/tokens/expire", nil, nil)
	for _, u := range []string{b.info.GraphURL + "/organization", b.info.Environments[0].APIURL + "/WhoAmI"} {
		tok := r.AccessToken
		if strings.Contains(u, "/env/") {
			tok = dv
		}
		if st, _, _ := b.call(t, "GET", u, tok, nil); st != 401 {
			t.Errorf("%s with an expired token: %d", u, st)
		}
	}
	// A new token works again.
	if st, _, _ := b.call(t, "GET", b.info.GraphURL+"/organization", b.graphToken(t), nil); st != 200 {
		t.Errorf("fresh token after expiry: %d", st)
	}
}

func TestPromptNone(t *testing.T) {
	b := setup(t, 5, 1)
	conf := b.delegatedConfig("http://localhost:7/cb", "openid", b.info.GraphScope)
	st, h, _ := b.call(t, "GET", conf.AuthCodeURL("p", oauthParam("prompt", "none")), "", nil)
	loc, _ := url.Parse(h.Get("Location"))
	if st != 302 || loc.Query().Get("error") != "login_required" {
		t.Errorf("prompt=none: %d %v", st, loc)
	}
}

func TestBatchInnerThrottle(t *testing.T) {
	b := setup(t, 5, 1)
	tok := b.graphToken(t)
	b.setFaults(t, Faults{Graph: FaultRates{Next: []string{FaultThrottle}}})
	st, _, data := b.call(t, "POST", b.info.GraphURL+"/$batch", tok, strings.NewReader(`{"requests":[{"id":"a","method":"GET","url":"/organization"},{"id":"b","method":"GET","url":"/subscribedSkus"}]}`))
	if st != 200 {
		t.Fatalf("batch: %d %s", st, data)
	}
	var out struct {
		Responses []struct {
			ID      string
			Status  int
			Headers map[string]string
		}
	}
	json.Unmarshal(data, &out)
	if len(out.Responses) != 2 || out.Responses[0].Status != 429 || out.Responses[0].Headers["Retry-After"] != "2.128" || out.Responses[1].Status != 200 {
		t.Errorf("batch responses = %+v", out.Responses)
	}
}

func TestRequestLogHasNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	b := setup(t, 5, 1, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tok := b.graphToken(t)
	b.call(t, "GET", b.info.GraphURL+"/users?$top=1", tok, nil)
	log := buf.String()
	if !strings.Contains(log, "path=/v1.0/users") || !strings.Contains(log, "status=200") {
		t.Errorf("log = %s", log)
	}
	if strings.Contains(log, b.info.ClientSecret) || strings.Contains(log, tok[:40]) {
		t.Errorf("log leaks a secret: %s", log)
	}
}

func TestPlainHTTPListener(t *testing.T) {
	b := setup(t, 5, 1)
	hi, ok := b.s.HTTPInfo()
	if !ok || !strings.HasPrefix(hi.GraphURL, "http://127.0.0.1:") || hi.TenantID != b.info.TenantID {
		t.Fatalf("HTTPInfo = %+v, %v", hi, ok)
	}
	hb := *b
	hb.info = hi
	// No keep-alive: Go's transport silently retries a GET whose reused
	// connection closes before any answer, which would hide the drop.
	hb.hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	hb.ctx = context.WithValue(context.Background(), oauth2.HTTPClient, hb.hc)
	tok := hb.appToken(t, hi.Environments[0].Scope)
	if st, _, body := hb.call(t, "GET", hi.Environments[0].APIURL+"/WhoAmI", tok, nil); st != 200 {
		t.Errorf("Dataverse over HTTP: %d %s", st, body)
	}
	// An HTTPS-audience token is accepted on the HTTP listener too.
	if st, _, _ := hb.call(t, "GET", hi.GraphURL+"/organization", b.graphToken(t), nil); st != 200 {
		t.Errorf("Graph over HTTP with an HTTPS-audience token: %d", st)
	}
	// HTTP/1.1 drop: the connection is hijacked and closed.
	gt := hb.appToken(t, hi.GraphScope)
	hb.setFaults(t, Faults{Graph: FaultRates{Next: []string{FaultDrop, FaultTruncated}}})
	req, _ := http.NewRequest("GET", hi.GraphURL+"/organization", nil)
	req.Header.Set("Authorization", "Bearer "+gt)
	if _, err := hb.hc.Do(req); err == nil {
		t.Error("dropped connection: no error")
	}
	req, _ = http.NewRequest("GET", hi.GraphURL+"/organization", nil)
	req.Header.Set("Authorization", "Bearer "+gt)
	resp, err := hb.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body over HTTP/1.1: %v", err)
	}
}
