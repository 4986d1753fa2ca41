package odata

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2.128", 2128 * time.Millisecond, true},
		{"2", 2 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"0.0005", 500 * time.Microsecond, true},
		{".5", 500 * time.Millisecond, true},
		{"1e9", 24 * time.Hour, true},
		{"1e400", 0, false},
		{"Fri, 27 Nov 2026 12:00:05 GMT", 5 * time.Second, true},
		{"Friday, 27-Nov-26 12:01:00 GMT", time.Minute, true},
		{"Fri Nov 27 12:00:30 2026", 30 * time.Second, true},
		{"Fri, 27 Nov 2026 11:00:00 GMT", 0, true},
		{"Fri, 27 Nov 2099 11:00:00 GMT", 24 * time.Hour, true},
		{"", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"soon", 0, false},
		{"2,5", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	_, graph429, _ := strings.Cut(string(readFixture(t, "graph-error-429.txt")), "\n\n")
	tests := []struct {
		name string
		body string
		ok   bool
		want ErrorBody
	}{
		{"graph 429", graph429, true, ErrorBody{Code: "TooManyRequests", Message: "Please retry again later.", InnerCode: "429", RequestID: "94fb3b52-452a-4535-a601-69e0a90e3aa2"}},
		{"graph innerError", string(readFixture(t, "graph-error-example-invalidRange.json")), true, ErrorBody{Code: "invalidRange", Message: "Uploaded fragment overlaps with existing data.", RequestID: "request-id"}},
		{"graph innererror lower case", `{"error":{"code":"resyncRequired","message":"m","innererror":{"code":"syncStateNotFound","request-id":"r"}}}`, true, ErrorBody{Code: "resyncRequired", Message: "m", InnerCode: "syncStateNotFound", RequestID: "r"}},
		{"dataverse hex", string(readFixture(t, "dataverse-error-expand-ref.json")), true, ErrorBody{Code: "0x80060888", Message: "Expand with $ref is only supported on lookup type navigation property."}},
		{"entra", string(readFixture(t, "entra-token-error-invalid_scope-clientcredentials.json")), true, ErrorBody{
			Code: "invalid_scope", Message: "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope https://foo.microsoft.com/.default is not valid.",
			ErrorCodes: []int{70011}, TraceID: "255d1aef-8c98-452f-ac51-23d051240864", CorrelationID: "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7"}},
		{"odata v3 message object", `{"error":{"code":"","message":{"lang":"en-US","value":"Bad things"}}}`, true, ErrorBody{Message: "Bad things"}},
		{"numeric code, nulls", `{"error":{"code":429,"message":null,"innerError":null}}`, true, ErrorBody{Code: "429"}},
		{"plain text", "Service Unavailable\r\nmore", false, ErrorBody{Message: "Service Unavailable"}},
		{"empty", "", false, ErrorBody{}},
		{"null error", `{"error":null}`, false, ErrorBody{}},
		{"not JSON object", `{"error":`, false, ErrorBody{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseErrorBody([]byte(tt.body))
			if ok != tt.ok || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %+v, %v\nwant %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDecodePage(t *testing.T) {
	t.Parallel()
	org := "https://org.crm.dynamics.com"
	dv := strings.ReplaceAll(string(readFixture(t, "dataverse-contacts-paging-page1.json")), "[Organization URI]", org)
	p, err := DecodePage(org+"/api/data/v9.2/contacts?$select=fullname", []byte(dv))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Value) != 2 || !strings.HasPrefix(p.NextLink, org+"/api/data/v9.2/contacts?$select=fullname&$skiptoken=%3Ccookie") || p.DeltaLink != "" || p.Count != nil {
		t.Fatalf("page %+v", p)
	}
	if !strings.Contains(p.Context, "$metadata#contacts(fullname)") {
		t.Fatalf("context %q", p.Context)
	}

	g := readFixture(t, "graph-users-delta-initial.json")
	p, err = DecodePage("https://graph.microsoft.com/v1.0/users/delta?$select=displayName", g)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Value) != 4 || !strings.Contains(p.NextLink, "$skiptoken=oEBwdSP6") {
		t.Fatalf("page %+v", p)
	}
	type item struct {
		ID      string          `json:"id"`
		Removed json.RawMessage `json:"@removed"`
	}
	items, err := DecodeValue[item](p)
	if err != nil || items[2].ID != "86462606-fde0-4fc4-9e0c-a20eb73e54c6" || len(items[2].Removed) == 0 {
		t.Fatalf("items %+v, %v", items, err)
	}

	p, err = DecodePage("https://graph.microsoft.com/v1.0/users?$count=true", readFixture(t, "graph-users-list-count-eventual.json"))
	if err != nil || p.Count == nil || *p.Count != 1 {
		t.Fatalf("count: %+v %v", p, err)
	}

	// Relative links resolve against the page URL.
	p, err = DecodePage("https://h/api/data/v9.2/audits?x=1", []byte(`{"value":[],"@odata.nextLink":"audits?$skiptoken=2"}`))
	if err != nil || p.NextLink != "https://h/api/data/v9.2/audits?$skiptoken=2" {
		t.Fatalf("relative link: %+v %v", p, err)
	}

	bad := []string{
		``, `[]`, `{}`, `{"value":null}`, `{"value":[{"id":1},null]}`, `{"value":[{"id":1}]} {"value":[]}`,
		`{"value":[{"id":1}`, `{"value":{"id":1}}`, `{"@odata.nextLink":"%zz","value":[]}`,
	}
	for _, b := range bad {
		if p, err := DecodePage("https://h/x", []byte(b)); err == nil {
			t.Errorf("DecodePage(%q) = %+v, want an error", b, p)
		}
	}
}

func TestPages(t *testing.T) {
	t.Parallel()
	page := func(n int, next string) step {
		return func(w http.ResponseWriter, r *http.Request) {
			link := ""
			if next != "" {
				link = fmt.Sprintf(`,"@odata.nextLink":%q`, "http://"+r.Host+next)
			}
			jsonAnswer(200, fmt.Sprintf(`{"value":[{"n":%d},{"n":%d}]%s}`, 2*n, 2*n+1, link))(w, r)
		}
	}
	s := newScript(t, page(2, ""), page(0, "/items?$skiptoken=1"), drop, page(1, "/items?$skiptoken=2"))
	c, _ := testClient(t, nil)
	var got []int
	var urls []string
	h := http.Header{"Prefer": {"odata.maxpagesize=2"}}
	err := c.Pages(context.Background(), s.url("/items"), h, func(p *Page) error {
		urls = append(urls, strings.TrimPrefix(p.URL, s.srv.URL))
		items, err := DecodeValue[struct{ N int }](p)
		for _, it := range items {
			got = append(got, it.N)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5]" || fmt.Sprint(urls) != "[/items /items?$skiptoken=1 /items?$skiptoken=2]" {
		t.Fatalf("items %v, urls %v", got, urls)
	}
	for _, r := range s.requests() {
		if r.Header.Get("Prefer") != "odata.maxpagesize=2" {
			t.Fatalf("request %s without Prefer", r.RawQuery)
		}
	}

	// fn's error stops the listing and comes back unchanged.
	stop := fmt.Errorf("stop")
	s2 := newScript(t, page(0, "/items?$skiptoken=1"))
	calls := 0
	err = c.Pages(context.Background(), s2.url("/items"), nil, func(*Page) error { calls++; return stop })
	if err != stop || calls != 1 || len(s2.requests()) != 1 {
		t.Fatalf("err %v, calls %d", err, calls)
	}

	// A page pointing at itself is an error, not a loop.
	s3 := newScript(t, page(0, "/items"))
	err = c.Pages(context.Background(), s3.url("/items"), nil, func(*Page) error { return nil })
	if !sam.IsCode(err, sam.EUNAVAILABLE) || len(s3.requests()) != 1 {
		t.Fatalf("self link: %v", err)
	}

	// A link to another host is refused before fn sees the page.
	s4 := newScript(t, jsonAnswer(200, `{"value":[],"@odata.nextLink":"https://evil.example/steal"}`))
	err = c.Pages(context.Background(), s4.url("/items"), nil, func(*Page) error { t.Fatal("fn called"); return nil })
	if !sam.IsCode(err, sam.EINVALID) {
		t.Fatalf("foreign link: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://graph.microsoft.com/v1.0/users?$top=5", "https://graph.microsoft.com/v1.0/users?$top=5"},
		{"https://h/t?client_secret=abc&scope=x", "https://h/t?client_secret=REDACTED&scope=x"},
		{"https://h/cb?code=OAAAB&state=s&access_token=eyJ", "https://h/cb?code=REDACTED&state=s&access_token=REDACTED"},
		{"https://user:pw@h/x?sig=abc#frag", "https://h/x?sig=REDACTED"},
		{"https://h/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T", "https://h/users/delta?$deltatoken=oEcOySpF_hWYmTIU..."},
		{"https://h/x?my_refresh_token=1&$skiptoken=short", "https://h/x?my_refresh_token=REDACTED&$skiptoken=short"},
		{"https://h/x?%63lient_secret=abc", "https://h/x?%63lient_secret=REDACTED"},
		{"::not a url?secret=1", "::not a url?REDACTED"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	t.Parallel()
	tok := Token{AccessToken: "eyJsecret", ExpiresAt: testNow}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), tok.LogValue().String()} {
		if strings.Contains(s, "eyJsecret") {
			t.Fatalf("token printed: %s", s)
		}
	}
}

func TestNewHTTPClientTrustsCAFile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonAnswer(200, okEntity)(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without the CA file the server is not trusted.
	plain, err := NewHTTPClient("")
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{Service: ServiceGraph, HTTPClient: plain, MaxAttempts: 1})
	err = c.Get(context.Background(), srv.URL+"/x", nil, nil)
	var uae x509.UnknownAuthorityError
	if oe, ok := AsError(err); !ok || oe.Status != 0 || !errorsAs(err, &uae) {
		t.Fatalf("untrusted server: %v", err)
	}

	hc, err := NewHTTPClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c = New(Config{Service: ServiceGraph, HTTPClient: hc})
	if err := c.Get(context.Background(), srv.URL+"/x", nil, nil); err != nil {
		t.Fatalf("with CA file: %v", err)
	}

	notPEM := filepath.Join(dir, "bad.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, f := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		if _, err := NewHTTPClient(f); !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), f) {
			t.Errorf("NewHTTPClient(%s): %v", f, err)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestGetPageOfRetriesItemsThatDoNotDecode(t *testing.T) {
	t.Parallel()
	s := newScript(t, jsonAnswer(200, `{"value":[{"n":1},{"n":2}]}`), jsonAnswer(200, `{"value":[{"n":1},{"n":"two"}]}`))
	c, fs := testClient(t, nil)
	p, err := GetPageOf[struct{ N int }](context.Background(), c, s.url("/items"), nil)
	if err != nil || len(p.Value) != 2 || p.Value[1].N != 2 || len(s.requests()) != 2 || len(fs.all()) != 1 {
		t.Fatalf("page %+v, err %v, %d requests", p, err, len(s.requests()))
	}
	// Always wrong: the error says the body was malformed, after retries.
	s2 := newScript(t, jsonAnswer(200, `{"value":[{"n":"two"}]}`))
	_, err = GetPageOf[struct{ N int }](context.Background(), c, s2.url("/items"), nil)
	oe, ok := AsError(err)
	if !sam.IsCode(err, sam.EUNAVAILABLE) || !ok || !strings.Contains(oe.Error(), "malformed response body") || oe.Attempts != DefaultMaxAttempts {
		t.Fatalf("err %v", err)
	}
}

func TestChallengeError(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg, code, want string }{
		{`Bearer authorization_uri=https://login.microsoftonline.com/t/oauth2/authorize, resource_id=https://org.crm.dynamics.com/`, "", "", ""},
		{`Bearer error="invalid_token", error_description="The access token expired"`, "", "invalid_token", "The access token expired"},
		{`Bearer error="invalid_token", error_description="x"`, "body message", "invalid_token", "body message"},
		{``, "m", "", "m"},
	}
	for _, tt := range tests {
		code, msg := challengeError(tt.in, tt.msg)
		if code != tt.code || msg != tt.want {
			t.Errorf("challengeError(%q) = %q, %q", tt.in, code, msg)
		}
	}
	s := newScript(t, withHeader("WWW-Authenticate", `Bearer error="invalid_token", error_description="The token audience is not this environment"`, jsonAnswer(401, "")))
	c, _ := testClient(t, nil)
	err := c.Get(context.Background(), s.url("/api/data/v9.2/WhoAmI()"), nil, nil)
	if oe, ok := AsError(err); !ok || oe.Code != "invalid_token" || !strings.Contains(err.Error(), "audience") || !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("err %v", err)
	}
}
