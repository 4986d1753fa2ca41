package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/web"
)

// jsonRoutes are the API routes that decode a JSON request body.
var jsonRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/session"},
	{"POST", "/api/v1/me/password"},
	{"POST", "/api/v1/users"},
	{"PATCH", "/api/v1/users/fuzz-target"},
	{"POST", "/api/v1/tokens"},
	{"POST", "/api/v1/profiles"},
	{"PATCH", "/api/v1/profiles/fuzzed"},
	{"POST", "/api/v1/profiles/fuzzed/runs"},
	{"PATCH", "/api/v1/schedules/sync"},
}

// secretFields are request fields whose values must never come back.
var secretFields = []string{"password", "new", "current", "client_secret"}

// echoedSecrets returns the string values of secret fields of a JSON body
// that occur exactly once in it (at least 8 bytes long).
func echoedSecrets(body []byte) []string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var out []string
	for _, k := range secretFields {
		if s, ok := m[k].(string); ok && len(s) >= 8 && bytes.Count(body, []byte(s)) == 1 {
			out = append(out, s)
		}
	}
	return out
}

// FuzzAPIRequestBodies sends arbitrary JSON bodies to every API route that
// decodes one, as an admin with an API token, through the real server on a
// real SQLite database: the server never answers 500, every refusal is a
// JSON error body with a sam error code, and no password or client secret of
// the request comes back in the answer.
func FuzzAPIRequestBodies(f *testing.F) {
	seeds := []string{
		`{"name":"fuzz-admin","password":"fuzz admin password"}`,
		`{"current":"fuzz admin password","new":"another long password"}`,
		`{"name":"carol","role":"viewer","password":"carol's long password"}`,
		`{"role":"sam_manager","disabled":true}`,
		`{"name":"ci","role":"viewer","expires_in_days":30}`,
		`{"name":"fuzzed","tenant_id":"11111111-2222-3333-4444-555555555555","client_id":"aaaaaaaa-2222-3333-4444-555555555555","client_secret":"very-secret-value","environments":[{"url":"https://contoso.crm.dynamics.com","name":"prod"}]}`,
		`{"display_name":"Fuzzed","analyze_from":"2025-01-01","client_secret":"other-secret-value"}`,
		`{"kind":"sync"}`,
		`{"spec":"every 30m","enabled":false}`,
		`{"name":1}`, `[]`, `null`, `{"a":1}{"b":2}`, `{"name":"x","unknown":true}`, "",
	}
	for i, s := range seeds {
		f.Add(uint8(i%len(jsonRoutes)), []byte(s))
	}
	dir := f.TempDir()
	st, err := db.Open(f.Context(), "sqlite://"+filepath.Join(dir, "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	kr, err := secret.LoadKeyring("", filepath.Join(dir, "seatwise.key"))
	if err != nil {
		f.Fatal(err)
	}
	as := auth.NewService(st)
	srv, err := web.New(web.Config{Store: st, Auth: as, Keyring: kr, LoginBurst: 1 << 20, LoginRate: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	f.Cleanup(ts.Close)
	admin, err := as.CreateUser(f.Context(), "fuzz-admin", auth.RoleAdmin, "fuzz admin password", false)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := as.CreateUser(f.Context(), "fuzz-target", auth.RoleViewer, "fuzz target password", false); err != nil {
		f.Fatal(err)
	}
	tok, _, err := as.CreateToken(f.Context(), "fuzz", auth.RoleAdmin, 24*time.Hour, admin.ID)
	if err != nil {
		f.Fatal(err)
	}
	codes := map[string]bool{}
	for _, c := range []sam.Code{sam.EINVALID, sam.ENOTFOUND, sam.ECONFLICT, sam.EUNAUTHORIZED, sam.EFORBIDDEN, sam.EUNAVAILABLE} {
		codes[string(c)] = true
	}
	client := ts.Client()
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := jsonRoutes[int(route)%len(jsonRoutes)]
		req, err := http.NewRequest(r.method, ts.URL+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, res.StatusCode, out)
		}
		if res.StatusCode >= 400 {
			var eb web.ErrorBody
			if err := json.Unmarshal(out, &eb); err != nil || !codes[eb.Error.Code] || eb.Error.Message == "" {
				t.Fatalf("%s %s %q: %d with error body %s", r.method, r.path, body, res.StatusCode, out)
			}
		} else if len(out) > 0 && !json.Valid(out) {
			t.Fatalf("%s %s: %d answer is not JSON: %s", r.method, r.path, res.StatusCode, out)
		}
		for _, s := range echoedSecrets(body) {
			if strings.Contains(string(out), s) {
				t.Fatalf("%s %s answered with a secret of the request: %s", r.method, r.path, out)
			}
		}
	})
}
