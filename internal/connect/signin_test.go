package connect_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// delegatedSetup is a simulator with one tenant of two environments, a
// store with a delegated profile for it (client secret stored, no sign-in
// yet) and a keyring.
type delegatedSetup struct {
	srv  *mscloud.Server
	ten  *tenant.Tenant
	st   store.Store
	kr   *secret.Keyring
	p    *sam.Profile
	dbf  string
	user string
}

func newDelegatedSetup(t *testing.T) *delegatedSetup {
	t.Helper()
	srv := simulator(t, 2)
	d := &delegatedSetup{srv: srv, ten: srv.Tenant()}
	d.dbf = filepath.Join(t.TempDir(), "seatwise.db")
	st, err := sqlite.Open(context.Background(), d.dbf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d.st = st
	key, _ := secret.GenerateKey()
	if d.kr, err = secret.NewKeyring(key); err != nil {
		t.Fatal(err)
	}
	d.p = simProfile(srv, 0, "contoso")
	d.p.AuthMode = sam.AuthDelegated
	if err := st.CreateProfile(context.Background(), d.p); err != nil {
		t.Fatal(err)
	}
	sealed, _ := d.kr.Seal([]byte(srv.Info().ClientSecret))
	if err := st.PutSecret(context.Background(), d.p.ID, sam.SecretClientSecret, sealed); err != nil {
		t.Fatal(err)
	}
	if d.user, err = connecttest.Admin(d.ten); err != nil {
		t.Fatal(err)
	}
	return d
}

// signIn runs a sign-in over a loopback listener with the browser b; it
// returns the loopback's result, the final page and the sign-in.
func (d *delegatedSetup) signIn(t *testing.T, b *connecttest.Browser, tamperStart func(string) string) (error, string, string) {
	t.Helper()
	lb, err := connect.NewLoopback()
	if err != nil {
		t.Fatal(err)
	}
	s, err := connect.NewSignIn(d.p, connect.SignInConfig{RedirectURI: lb.RedirectURI(), ClientSecret: d.srv.Info().ClientSecret,
		HTTPClient: d.srv.Client(), Save: connect.RefreshTokenSaver(d.st, d.kr, d.p.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Steps() != 3 {
		t.Errorf("%d consent steps, want Graph + 2 environments", s.Steps())
	}
	start, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lb.RedirectURI(), "http://127.0.0.1:") || !strings.Contains(start, "code_challenge_method=S256") || !strings.Contains(start, "offline_access") {
		t.Errorf("start URL %s, redirect %s", start, lb.RedirectURI())
	}
	if tamperStart != nil {
		start = tamperStart(start)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lb.Run(ctx, s) }()
	title, msg, berr := b.Run(start)
	if berr != nil {
		t.Fatalf("browser: %v", berr)
	}
	return <-done, title, msg
}

func (d *delegatedSetup) sync(t *testing.T) (*ingest.SubscriptionResult, error) {
	t.Helper()
	ctx := context.Background()
	p, err := d.st.Profile(ctx, d.p.ID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := connect.Load(ctx, d.st, d.kr, p, d.srv.Client())
	if err != nil {
		return nil, err
	}
	if !cred.Delegated() {
		t.Fatal("a delegated profile loaded an app-only credential")
	}
	src, err := ingest.NewSources(p, "", ingest.ClientOptions{HTTPClient: d.srv.Client(), Tokens: cred.Source, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	sy := &ingest.Syncer{Store: d.st, Catalog: ingest.CatalogFilter{C: catalog.Default()}, Graph: src.Graph,
		Dataverse: src.Dataverse, Counters: src, Now: d.ten.Now}
	res, err := sy.Subscriptions(ctx, p, ingest.SubscriptionOptions{})
	if err != nil {
		return res, err
	}
	if p, err = d.st.Profile(ctx, d.p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sy.Activity(ctx, p); err != nil {
		return res, err
	}
	if p, err = d.st.Profile(ctx, d.p.ID); err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Environments {
		if !e.Audit.Reachable {
			t.Errorf("environment %s unreachable with the delegated sign-in: %s", e.URL, e.Audit.Error)
		}
	}
	return res, nil
}

func (d *delegatedSetup) refreshToken(t *testing.T) (string, bool) {
	t.Helper()
	sealed, err := d.st.Secret(context.Background(), d.p.ID, sam.SecretRefreshToken)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	plain, err := d.kr.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain), true
}

func TestDelegatedSignInThenSync(t *testing.T) {
	d := newDelegatedSetup(t)
	b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user}
	err, title, msg := d.signIn(t, b, nil)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if b.Consents != 3 || title != "Seatwise is connected" || !strings.Contains(msg, "contoso") {
		t.Errorf("%d consents, final page %q: %q", b.Consents, title, msg)
	}
	rt1, ok := d.refreshToken(t)
	if !ok {
		t.Fatal("no refresh token stored")
	}
	raw, err := d.st.Secret(context.Background(), d.p.ID, sam.SecretRefreshToken)
	if err != nil || len(raw.Ciphertext) == 0 {
		t.Fatalf("stored refresh token: %d bytes, %v", len(raw.Ciphertext), err)
	}
	if strings.Contains(string(raw.Ciphertext), rt1) {
		t.Error("the refresh token is stored in plain text")
	}

	res, err := d.sync(t)
	if err != nil {
		t.Fatalf("sync with the delegated sign-in: %v", err)
	}
	if res.Changes.Opened == 0 {
		t.Errorf("the first sync opened no subscription: %+v", res.Changes)
	}
	rt2, _ := d.refreshToken(t)
	if rt2 == rt1 {
		t.Error("the refresh token was not rotated by the sync")
	}

	// Revoked sessions: the profile needs re-authorisation, data is kept.
	subs, _ := d.st.Subscriptions(context.Background(), store.SubscriptionFilter{ProfileID: d.p.ID, OpenOnly: true})
	if n := d.srv.RevokeRefreshTokens(d.p.TenantID, ""); n == 0 {
		t.Fatal("nothing revoked")
	}
	_, err = d.sync(t)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) {
		t.Fatalf("sync after revocation: %v, want EUNAUTHORIZED", err)
	}
	p, _ := d.st.Profile(context.Background(), d.p.ID)
	if p.State != sam.ProfileNeedsReauth || !strings.Contains(p.StateMessage, "seatwise profile connect contoso") || !strings.Contains(p.StateMessage, "revoked") {
		t.Errorf("profile state %s: %s", p.State, p.StateMessage)
	}
	after, _ := d.st.Subscriptions(context.Background(), store.SubscriptionFilter{ProfileID: d.p.ID, OpenOnly: true})
	if len(subs) == 0 || len(after) != len(subs) {
		t.Errorf("%d open subscriptions before the failed sync, %d after", len(subs), len(after))
	}

	// Signing in again reconnects.
	b.Consents = 0
	if err, _, _ := d.signIn(t, b, nil); err != nil {
		t.Fatalf("second sign-in: %v", err)
	}
	if _, err := d.sync(t); err != nil {
		t.Fatalf("sync after signing in again: %v", err)
	}
	if p, _ := d.st.Profile(context.Background(), d.p.ID); p.State != sam.ProfileConnected {
		t.Errorf("state after reconnecting: %s %s", p.State, p.StateMessage)
	}
}

func TestDelegatedSignInRefusals(t *testing.T) {
	d := newDelegatedSetup(t)
	accept := func(int) string { return "accept" }
	tests := []struct {
		name    string
		answer  func(int) string
		rewrite func(string) string
		start   func(string) string
		want    []string
	}{
		{name: "wrong state", answer: accept, rewrite: func(loc string) string {
			u, _ := url.Parse(loc)
			q := u.Query()
			q.Set("state", "forged-"+q.Get("state"))
			u.RawQuery = q.Encode()
			return u.String()
		}, want: []string{"state mismatch", "ignored"}},
		{name: "PKCE mismatch", answer: accept, start: func(s string) string {
			u, _ := url.Parse(s)
			q := u.Query()
			other, _ := entra.NewPKCE()
			q.Set("code_challenge", other.Challenge)
			u.RawQuery = q.Encode()
			return u.String()
		}, want: []string{"proof key (PKCE) does not match", "Microsoft Graph"}},
		{name: "consent for Graph denied", answer: func(int) string { return "cancel" },
			want: []string{"consent for Microsoft Graph was declined", "AADSTS65004", "nothing was stored"}},
		{name: "consent for the second environment denied", answer: func(n int) string {
			if n == 3 {
				return "cancel"
			}
			return "accept"
		}, want: []string{"consent for " + d.srv.Info().Environments[1].URL + " was declined", "nothing was stored"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user, Answer: tt.answer, Rewrite: tt.rewrite}
			err, title, msg := d.signIn(t, b, tt.start)
			if err == nil {
				t.Fatal("the sign-in succeeded")
			}
			if !sam.IsCode(err, sam.EUNAUTHORIZED) || title != "Seatwise could not connect" {
				t.Errorf("error %v (%s), page %q", err, sam.ErrorCode(err), title)
			}
			if _, stored := d.refreshToken(t); stored {
				t.Error("a failed sign-in stored a refresh token")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) || !strings.Contains(msg, w) {
					t.Errorf("error %q / page %q lacks %q", err.Error(), msg, w)
				}
			}
		})
	}
}

// TestDelegatedSignInExpires: a refresh token unused for longer than Entra
// keeps it (90 days on the tenant clock) puts the profile in needs_reauth
// with a clear message; the data stays.
func TestDelegatedSignInExpires(t *testing.T) {
	d := newDelegatedSetup(t)
	b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user}
	if err, _, _ := d.signIn(t, b, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sync(t); err != nil {
		t.Fatal(err)
	}
	before, _ := d.st.Subscriptions(context.Background(), store.SubscriptionFilter{ProfileID: d.p.ID})
	d.ten.Advance(91 * 24 * time.Hour)
	_, err := d.sync(t)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("sync with an expired sign-in: %v", err)
	}
	p, _ := d.st.Profile(context.Background(), d.p.ID)
	if p.State != sam.ProfileNeedsReauth || !strings.Contains(p.StateMessage, "sign in again with 'seatwise profile connect contoso'") || !strings.Contains(p.StateMessage, "data is kept") {
		t.Errorf("state %s: %s", p.State, p.StateMessage)
	}
	after, _ := d.st.Subscriptions(context.Background(), store.SubscriptionFilter{ProfileID: d.p.ID})
	if len(before) == 0 || len(after) != len(before) {
		t.Errorf("%d subscriptions before, %d after the failed sync", len(before), len(after))
	}
}

// TestSignInSovereignCloud: the authority, the Graph scopes and the
// environment scopes all come from the profile's URLs.
func TestSignInSovereignCloud(t *testing.T) {
	p := &sam.Profile{Name: "gov", TenantID: "11111111-2222-3333-4444-555555555555", ClientID: "aaaaaaaa-2222-3333-4444-555555555555",
		LoginURL: "https://login.microsoftonline.us", GraphURL: "https://graph.microsoft.us/v1.0",
		Environments: []sam.Environment{{URL: "https://contoso.crm9.dynamics.com"}, {URL: "https://contoso-eu.crm4.dynamics.com"}}}
	if _, err := connect.NewSignIn(p, connect.SignInConfig{RedirectURI: "http://127.0.0.1:9/callback", HTTPClient: http.DefaultClient,
		Save: func(context.Context, string) error { return nil }}); !sam.IsCode(err, sam.EINVALID) || !strings.Contains(err.Error(), "no client secret") {
		t.Errorf("sign-in without client secret: %v", err)
	}
	s, err := connect.NewSignIn(p, connect.SignInConfig{RedirectURI: "http://127.0.0.1:9/callback", HTTPClient: http.DefaultClient, ClientSecret: "x",
		Save: func(context.Context, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	q := pu.Query()
	if pu.Host != "login.microsoftonline.us" || pu.Path != "/"+p.TenantID+"/oauth2/v2.0/authorize" {
		t.Errorf("authorize URL %s", u)
	}
	for _, want := range []string{"offline_access", "https://graph.microsoft.us/User.Read.All", "https://graph.microsoft.us/Organization.Read.All"} {
		if !strings.Contains(q.Get("scope"), want) {
			t.Errorf("scope %q lacks %s", q.Get("scope"), want)
		}
	}
	if strings.Contains(u, "graph.microsoft.com") || strings.Contains(u, "microsoftonline.com") || q.Get("state") == "" || q.Get("code_challenge") == "" {
		t.Errorf("authorize URL %s", u)
	}
	if s.Steps() != 3 || !strings.Contains(s.Describe(), "Microsoft Graph") {
		t.Errorf("%d steps, %s", s.Steps(), s.Describe())
	}
	if got := connect.GraphScope(p); got != "https://graph.microsoft.us/.default" {
		t.Errorf("GraphScope = %s", got)
	}
}
