package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/web"
)

// bodyRoutes returns the API routes that read a request body, with its
// content type, from the OpenAPI golden file (so that routes added later are
// fuzzed too), path parameters filled with names the fuzz test creates.
func bodyRoutes(tb testing.TB) []bodyRoute {
	b, err := os.ReadFile("testdata/openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		tb.Fatal(err)
	}
	names := map[string]string{"profiles": "fuzzed", "users": "fuzz-target", "schedules": "sync"}
	var out []bodyRoute
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if op.RequestBody == nil {
				continue
			}
			segs := strings.Split(path, "/")
			for i, s := range segs {
				switch {
				case s == "{id}":
					segs[i] = "1"
				case strings.HasPrefix(s, "{") && i > 0 && names[segs[i-1]] != "":
					segs[i] = names[segs[i-1]]
				case strings.HasPrefix(s, "{"):
					segs[i] = "fuzzed"
				}
			}
			for ct := range op.RequestBody.Content {
				out = append(out, bodyRoute{strings.ToUpper(method), strings.Join(segs, "/"), ct})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].method+out[i].path+out[i].ct < out[j].method+out[j].path+out[j].ct })
	if len(out) < 9 {
		tb.Fatalf("only %d routes with a request body in the OpenAPI document", len(out))
	}
	return out
}

// bodyRoute is an API route that reads a request body of type ct.
type bodyRoute struct{ method, path, ct string }

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

// FuzzAPIRequestBodies sends arbitrary bodies to every API route that reads
// one (JSON, CSV), as listed by the OpenAPI document, as an admin with an
// API token, through the real server on a real SQLite database: the server never answers 500, every refusal is a
// JSON error body with a sam error code, and no password or client secret of
// the request comes back in the answer.
func FuzzAPIRequestBodies(f *testing.F) {
	routes := bodyRoutes(f)
	// Seeds: a plausible body for known routes, and odd bodies for every
	// route.
	seeds := map[string]string{
		"POST /api/v1/session":              `{"name":"fuzz-admin","password":"fuzz admin password"}`,
		"POST /api/v1/me/password":          `{"current":"fuzz admin password","new":"another long password"}`,
		"POST /api/v1/users":                `{"name":"carol","role":"viewer","password":"carol's long password"}`,
		"PATCH /api/v1/users/fuzz-target":   `{"role":"sam_manager","disabled":true}`,
		"POST /api/v1/tokens":               `{"name":"ci","role":"viewer","expires_in_days":30}`,
		"POST /api/v1/profiles":             `{"name":"fuzzed","tenant_id":"11111111-2222-3333-4444-555555555555","client_id":"aaaaaaaa-2222-3333-4444-555555555555","client_secret":"very-secret-value","environments":[{"url":"https://contoso.crm.dynamics.com","name":"prod"}]}`,
		"PATCH /api/v1/profiles/fuzzed":     `{"display_name":"Fuzzed","analyze_from":"2025-01-01","client_secret":"other-secret-value"}`,
		"POST /api/v1/profiles/fuzzed/runs": `{"kind":"sync"}`,
		"PATCH /api/v1/schedules/sync":      `{"spec":"every 30m","enabled":false}`,
		"POST /api/v1/entitlements/import":  "profile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\nfuzzed,D365_SALES_PRO,10,65.00,USD,2026-01-01,2026-12-31,annual\n",
		"POST /api/v1/entitlements":         `{"profile":"fuzzed","sku":"D365_SALES_PRO","quantity":10,"unit_cost":"65.00","currency":"USD","term_start":"2026-01-01","term_end":"2026-12-31","commitment":"annual"}`,
		"PATCH /api/v1/reclaim/settings":    `{"dry_run":true,"cap_count":5}`,
		"POST /api/v1/candidates/1/actions": `{"action":"keep","reason":"needed"}`,
		"POST /api/v1/candidates/actions":   `{"action":"skip","ids":[1,2]}`,
		"POST /api/v1/exclusions":           `{"kind":"user","value":"ann@contoso.com","reason":"VIP"}`,
	}
	odd := []string{`{"name":1}`, `[]`, `null`, `{"a":1}{"b":2}`, `{"name":"x","unknown":true}`, "", "a,b\n\"c"}
	for i, r := range routes {
		if body, ok := seeds[r.method+" "+r.path]; ok {
			f.Add(uint8(i), []byte(body))
		}
		f.Add(uint8(i), []byte(odd[i%len(odd)]))
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
		r := routes[int(route)%len(routes)]
		req, err := http.NewRequest(r.method, ts.URL+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", r.ct)
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
