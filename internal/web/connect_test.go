package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/web"
)

// TestConnectDelegated connects a profile with an administrator's sign-in
// through the server's callback route: the browser (signed in to Seatwise)
// goes through the simulator's consents and comes back to /callback, which
// stores the sign-in and marks the profile connected.
func TestConnectDelegated(t *testing.T) {
	sim := startSim(t, 13, 30)
	info := sim.Info()
	admin, err := connecttest.Admin(sim.Tenant())
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t)
	hdr := bearer(b.token(auth.RoleSAMIntegrator))
	in := map[string]any{"name": "sim", "tenant_id": info.TenantID, "client_id": info.ClientID, "client_secret": info.ClientSecret,
		"login_url": info.LoginURL, "graph_url": info.GraphURL, "ca_file": info.CAFile,
		"environments": []map[string]string{{"url": info.Environments[0].URL}}}
	if r := b.do(nil, "POST", "/api/v1/profiles", in, hdr); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}

	// The integrator's browser: Seatwise session cookie, trusts the simulator.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: sim.Client().Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := b.login(hc, "u-sam_integrator", password)
	r := b.do(hc, "POST", "/profiles/sim/connect", url.Values{"csrf": {csrf}}, map[string]string{"Accept": "text/html"})
	start := r.header.Get("Location")
	if r.status != 303 || !strings.HasPrefix(start, info.LoginURL) || !strings.Contains(start, url.QueryEscape(b.ts.URL+"/callback")) {
		t.Fatalf("connect: %d %s", r.status, start)
	}
	// A declined consent fails clearly and changes nothing.
	declined := &connecttest.Browser{HTTP: hc, Login: admin, Answer: func(int) string { return "cancel" }}
	if title, _, err := declined.Run(start); err != nil || title != "Seatwise could not connect" {
		t.Fatalf("declined: %q %v", title, err)
	}
	if p, _ := b.st.ProfileByName(t.Context(), "sim"); p.AuthMode != sam.AuthClientSecret {
		t.Fatalf("a declined sign-in changed the profile: %s", p.AuthMode)
	}
	r = b.do(hc, "POST", "/profiles/sim/connect", url.Values{"csrf": {csrf}}, map[string]string{"Accept": "text/html"})
	start = r.header.Get("Location")
	br := &connecttest.Browser{HTTP: hc, Login: admin}
	title, msg, err := br.Run(start)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if title != "Seatwise is connected" || !strings.Contains(msg, "Profile sim is connected") || br.Consents != 2 {
		t.Fatalf("after the consents: page %q (%q), %d consents", title, msg, br.Consents)
	}
	p, err := b.st.ProfileByName(t.Context(), "sim")
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthMode != sam.AuthDelegated || p.State != sam.ProfileConnected {
		t.Errorf("profile after connect: %s %s", p.AuthMode, p.State)
	}
	if _, err := b.st.Secret(t.Context(), p.ID, sam.SecretRefreshToken); err != nil {
		t.Errorf("refresh token not stored: %v", err)
	}
	// The delegated sign-in validates.
	var v web.ValidationJSON
	b.do(nil, "POST", "/api/v1/profiles/sim/validate", nil, hdr).json(t, &v)
	if v.Failed {
		t.Errorf("validation after connect: %+v", v)
	}
	// A forged callback is refused and changes nothing.
	r = b.do(hc, "GET", "/callback?state=forged&code=x", nil, map[string]string{"Accept": "text/html"})
	if r.status < 400 || !strings.Contains(string(r.body), "The connection failed") {
		t.Errorf("forged callback: %d", r.status)
	}
	// The API form gives the URL to open.
	var cs web.ConnectStarted
	b.do(nil, "POST", "/api/v1/profiles/sim/connect", nil, hdr).json(t, &cs)
	if !strings.HasPrefix(cs.SignInURL, info.LoginURL) || cs.Consents != 2 {
		t.Errorf("API connect: %+v", cs)
	}
}
