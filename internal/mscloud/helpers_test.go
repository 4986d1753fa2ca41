package mscloud

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// bundle is a running simulator and what tests need to call it.
type bundle struct {
	s    *Server
	info Info
	hc   *http.Client
	ctx  context.Context // carries hc for golang.org/x/oauth2
}

// setup starts a simulator with one generated tenant of users users and
// envs environments (HTTPS and plain HTTP) and stops it when the test ends.
func setup(t testing.TB, users, envs int, mods ...func(*Config)) *bundle {
	t.Helper()
	cfg := Config{Seed: 7, HTTP: true, Tenants: []TenantConfig{{Options: tenant.Options{Seed: 7, Users: users, Environments: envs}}}}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	hc := s.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &bundle{s: s, info: s.Info(), hc: hc, ctx: context.WithValue(context.Background(), oauth2.HTTPClient, hc)}
}

func (b *bundle) tokenURL() string {
	return b.info.LoginURL + "/" + b.info.TenantID + "/oauth2/v2.0/token"
}

// appToken obtains an app-only token for scope with client credentials.
func (b *bundle) appToken(t testing.TB, scope string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: b.info.ClientID, ClientSecret: b.info.ClientSecret, TokenURL: b.tokenURL(), Scopes: []string{scope}}
	tok, err := cc.Token(b.ctx)
	if err != nil {
		t.Fatalf("client credentials for %s: %v", scope, err)
	}
	return tok.AccessToken
}

func (b *bundle) graphToken(t testing.TB) string { return b.appToken(t, b.info.GraphScope) }

func (b *bundle) envToken(t testing.TB, i int) string {
	return b.appToken(t, b.info.Environments[i].Scope)
}

// call sends a request and returns the status, headers and body.
func (b *bundle) call(t testing.TB, method, u, token string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header, data
}

// getJSON GETs u and decodes a JSON object, failing unless the status is want.
func (b *bundle) getJSON(t testing.TB, u, token string, want int, hdr ...string) map[string]any {
	t.Helper()
	st, _, body := b.call(t, "GET", u, token, nil, hdr...)
	if st != want {
		t.Fatalf("GET %s: status %d, want %d: %s", u, st, want, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	return m
}

// control calls the control API and decodes the JSON answer into out.
func (b *bundle) control(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		j, _ := json.Marshal(in)
		body = strings.NewReader(string(j))
	}
	st, _, data := b.call(t, method, b.info.ControlURL+path, "", body)
	if st != http.StatusOK {
		t.Fatalf("control %s %s: %d %s", method, path, st, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("control %s %s: %v", method, path, err)
		}
	}
}

// entraErr decodes a token-endpoint error and checks its documented shape.
func entraErr(t testing.TB, body []byte) (code string, aadsts int) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes"`
		Timestamp   string `json:"timestamp"`
		TraceID     string `json:"trace_id"`
		CorrID      string `json:"correlation_id"`
		URI         string `json:"error_uri"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("token error is not JSON: %v: %s", err, body)
	}
	if len(e.Codes) != 1 || !strings.HasPrefix(e.Description, "AADSTS") {
		t.Fatalf("token error shape: %s", body)
	}
	if !regexp.MustCompile(`\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`).MatchString(e.Description) {
		t.Errorf("error_description lacks the trace lines: %q", e.Description)
	}
	if _, err := time.Parse("2006-01-02 15:04:05Z", e.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", e.Timestamp, err)
	}
	if !guidRE.MatchString(e.TraceID) || !guidRE.MatchString(e.CorrID) || e.URI == "" {
		t.Errorf("trace_id/correlation_id/error_uri: %s", body)
	}
	return e.Error, e.Codes[0]
}

// postForm posts a form to the token endpoint.
func (b *bundle) postForm(t testing.TB, u string, form url.Values, basicUser, basicPass string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// --- Graph schema conformance ---

type edmProp struct {
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

type edmTypeDef struct {
	Kind       string             `json:"kind"`
	BaseType   string             `json:"baseType"`
	Properties map[string]edmProp `json:"properties"`
}

var graphTypes = func() map[string]edmTypeDef {
	data, err := os.ReadFile("testdata/graph-v1.0-licensing-types.json")
	if err != nil {
		panic(err)
	}
	var f struct {
		Types map[string]edmTypeDef `json:"types"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		panic(err)
	}
	return f.Types
}()

func lookupProp(typ, name string) (edmProp, bool) {
	for typ != "" {
		def, ok := graphTypes[typ]
		if !ok {
			return edmProp{}, false
		}
		if p, ok := def.Properties[name]; ok {
			return p, true
		}
		typ = strings.TrimPrefix(def.BaseType, "graph.")
	}
	return edmProp{}, false
}

// checkGraphEntity checks every property of v against the Graph type typ
// (walking baseType): it must exist, and its JSON kind must fit the EDM
// type; non-nullable collections are never null.
func checkGraphEntity(t testing.TB, typ, path string, v map[string]any) {
	t.Helper()
	for k, val := range v {
		if strings.Contains(k, "@") {
			continue
		}
		p, ok := lookupProp(typ, k)
		if !ok {
			t.Errorf("%s: property %q does not exist on graph.%s", path, k, typ)
			continue
		}
		checkEDMValue(t, p.Type, p.Nullable, path+"."+k, val)
	}
}

func checkEDMValue(t testing.TB, edm string, nullable bool, path string, val any) {
	t.Helper()
	if val == nil {
		if strings.HasPrefix(edm, "Collection(") && !nullable {
			t.Errorf("%s: non-nullable collection is null", path)
		}
		return
	}
	if strings.HasPrefix(edm, "Collection(") {
		arr, ok := val.([]any)
		if !ok {
			t.Errorf("%s: %s answered as %T", path, edm, val)
			return
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(edm, "Collection("), ")")
		for i, el := range arr {
			checkEDMValue(t, inner, true, path+"["+itoa(i)+"]", el)
		}
		return
	}
	switch edm {
	case "Edm.String":
		if _, ok := val.(string); !ok {
			t.Errorf("%s: Edm.String answered as %T", path, val)
		}
	case "Edm.Guid":
		if s, ok := val.(string); !ok || !guidRE.MatchString(s) {
			t.Errorf("%s: Edm.Guid answered as %v", path, val)
		}
	case "Edm.DateTimeOffset":
		s, ok := val.(string)
		if !ok {
			t.Errorf("%s: Edm.DateTimeOffset answered as %T", path, val)
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s: %q is not RFC 3339", path, s)
		}
	case "Edm.Int32", "Edm.Int64", "Edm.Double":
		if _, ok := val.(float64); !ok {
			t.Errorf("%s: %s answered as %T", path, edm, val)
		}
	case "Edm.Boolean":
		if _, ok := val.(bool); !ok {
			t.Errorf("%s: Edm.Boolean answered as %T", path, val)
		}
	default:
		m, ok := val.(map[string]any)
		if !ok {
			t.Errorf("%s: %s answered as %T", path, edm, val)
			return
		}
		name := strings.TrimPrefix(edm, "graph.")
		if _, known := graphTypes[name]; known {
			checkGraphEntity(t, name, path, m)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// checkGraphCollection checks every item of a collection response.
func checkGraphCollection(t testing.TB, typ string, body map[string]any) []map[string]any {
	t.Helper()
	vals, ok := body["value"].([]any)
	if !ok {
		t.Fatalf("collection without value array: %v", body)
	}
	out := make([]map[string]any, 0, len(vals))
	for i, v := range vals {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("value[%d] is %T", i, v)
		}
		checkGraphEntity(t, typ, typ+"["+itoa(i)+"]", m)
		out = append(out, m)
	}
	return out
}
