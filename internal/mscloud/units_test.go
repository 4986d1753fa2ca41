package mscloud

import (
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

func TestRUCost(t *testing.T) {
	tests := []struct {
		base  int
		query string
		write bool
		want  int
	}{
		{2, "", false, 2},
		{2, "$select=id", false, 1},
		{2, "$select=id&$top=5", false, 1},
		{3, "$top=999", false, 3},
		{1, "$select=id&$top=1", false, 1},
		{1, "$select=id", true, 1},
		{2, "$expand=manager", false, 3},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		if got := ruCost(tt.base, q, tt.write); got != tt.want {
			t.Errorf("ruCost(%d, %q, %v) = %d, want %d", tt.base, tt.query, tt.write, got, tt.want)
		}
	}
}

func TestRedirectAllowed(t *testing.T) {
	app := &App{RedirectURIs: []string{"https://seatwise.example/callback"}}
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://seatwise.example/callback", true},
		{"https://seatwise.example/callback/", false},
		{"https://seatwise.example/other", false},
		{"http://127.0.0.1:53682/callback", true},
		{"http://localhost:8080/", true},
		{"http://[::1]:9/x", true},
		{"https://127.0.0.1:53682/callback", false},
		{"http://127.0.0.2.evil.example/cb", false},
		{"http://10.0.0.1/cb", false},
		{"::not a url", false},
	}
	for _, tt := range tests {
		if got := redirectAllowed(app, tt.uri); got != tt.ok {
			t.Errorf("redirectAllowed(%q) = %v, want %v", tt.uri, got, tt.ok)
		}
	}
}

func TestPKCE(t *testing.T) {
	// The challenge as golang.org/x/oauth2 computes it.
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	if !pkceOK(challenge, "S256", verifier) || pkceOK(challenge, "S256", verifier+"x") || pkceOK(challenge, "S256", "") {
		t.Error("S256 check")
	}
	if !pkceOK("abc", "plain", "abc") || pkceOK("abc", "plain", "abd") || !pkceOK("", "", "") {
		t.Error("plain check")
	}
}

func TestCookieRoundTrip(t *testing.T) {
	s := &Server{hmacKey: []byte("k")}
	d := &dvCall{s: s, env: &envCtx{tenant: &tenantCtx{id: "t"}, org: "o"}}
	pt := pageToken{Kind: "audits", Tenant: "t/o", After: "cursor-123_-"}
	cookie := d.skipToken(3, "auditid", "49b0be2e-d01c-ed11-b83e-000d3a572421", "d5026a4d-d01c-ed11-b83e-000d3a572421", pt)
	// What the client sends back, once decoded by the query parser.
	q, err := url.ParseQuery("$skiptoken=" + urlEscapeCookie(cookie))
	if err != nil {
		t.Fatal(err)
	}
	page, got, ok := d.parseSkipToken(q.Get("$skiptoken"))
	if !ok || page != 3 || got != pt {
		t.Fatalf("round trip: %v %d %+v", ok, page, got)
	}
	if _, _, ok := d.parseSkipToken(q.Get("$skiptoken") + "x"); ok {
		t.Error("a tampered cookie was accepted")
	}
	// Another environment's cookie is refused.
	d2 := &dvCall{s: s, env: &envCtx{tenant: &tenantCtx{id: "t"}, org: "other"}}
	if _, _, ok := d2.parseSkipToken(q.Get("$skiptoken")); ok {
		t.Error("a cookie of another environment was accepted")
	}
}
