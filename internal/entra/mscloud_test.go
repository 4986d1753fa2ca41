package entra_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/entra"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// memStore is a StoreFunc that keeps every refresh token it is given.
type memStore struct {
	mu     sync.Mutex
	tokens []string
}

func (m *memStore) Store(_ context.Context, rt string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens = append(m.tokens, rt)
	return nil
}

func (m *memStore) last() (string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[len(m.tokens)-1], len(m.tokens)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// signIn drives the simulator's sign-in page as a browser would: open the
// authorize URL, accept the consent as user upn, and return the code from
// the redirect.
func signIn(t *testing.T, srv *mscloud.Server, authURL, upn, redirect string) string {
	t.Helper()
	hc := srv.Client()
	noFollow := *hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("authorize page: %d %s", res.StatusCode, page)
	}
	form := url.Values{"consent": {"accept"}, "login": {upn}}
	for _, m := range hiddenField.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	if form.Get("client_id") == "" {
		// The page did not carry the request as hidden fields: repeat it.
		u, _ := url.Parse(authURL)
		for k, v := range u.Query() {
			form[k] = v
		}
	}
	post := strings.SplitN(authURL, "?", 2)[0]
	res, err = noFollow.PostForm(post, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("sign-in answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`).Replace(s)
}

func enabledUser(t *testing.T, tn *tenant.Tenant) string {
	t.Helper()
	users, _, err := tn.UsersPage("", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.AccountEnabled {
			return u.UserPrincipalName
		}
	}
	t.Fatal("no enabled user")
	return ""
}

func TestSimulatorDelegatedSignInAndRefresh(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 5, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 8}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	info := srv.Info()
	tn := srv.Tenant()
	redirect := "http://127.0.0.1:8400/callback"
	cfg := entra.DelegatedConfig{LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID,
		ClientSecret: info.ClientSecret, RedirectURI: redirect, HTTPClient: srv.Client()}

	pkce, err := entra.NewPKCE()
	if err != nil || len(pkce.Verifier) != 43 || pkce.Challenge == pkce.Verifier {
		t.Fatalf("PKCE %+v %v", pkce, err)
	}
	scopes := entra.SignInScopes(info.GraphScope)
	authURL, err := entra.AuthCodeURL(cfg, scopes, "st-1", pkce, "")
	if err != nil {
		t.Fatal(err)
	}
	code := signIn(t, srv, authURL, enabledUser(t, tn), redirect)

	// A wrong PKCE verifier is refused (the simulator, like Entra, does not
	// redeem the code then, so the right verifier still works).
	if _, err := entra.ExchangeCode(ctx, cfg, code, entra.PKCE{Verifier: strings.Repeat("x", 43)}, scopes, nil); !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "start the sign-in again") {
		t.Fatalf("wrong verifier: %v", err)
	}
	store := &memStore{}
	grant, err := entra.ExchangeCode(ctx, cfg, code, pkce, scopes, store.Store)
	if err != nil {
		t.Fatal(err)
	}
	first, n := store.last()
	if n != 1 || first == "" {
		t.Fatalf("first refresh token not stored (%d)", n)
	}
	if _, err := entra.ExchangeCode(ctx, cfg, code, pkce, scopes, nil); !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("code reused: %v", err)
	}

	// Graph and Dataverse tokens from the one grant; every redemption
	// rotates the refresh token, and each rotation is stored.
	graph := grant.Source(info.GraphScope)
	if grant.Source(info.GraphScope) != graph {
		t.Fatal("Source is not cached per scope")
	}
	gc := msgraph.New(info.GraphURL, odata.New(odata.Config{Service: odata.ServiceGraph, HTTPClient: srv.Client(), Tokens: graph}))
	if org, err := gc.Organization(ctx); err != nil || org.ID != tn.ID() {
		t.Fatalf("organization with a delegated token: %+v %v", org, err)
	}
	dv := grant.Source(info.Environments[0].Scope)
	if _, err := dv.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if _, n := store.last(); n != 3 {
		t.Fatalf("%d refresh tokens stored, want 3", n)
	}

	// Concurrent refreshes of both resources are serialised, so no
	// redemption uses a refresh token another one already rotated.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := graph
			if i%2 == 1 {
				src = dv
			}
			tok, err := src.Token(ctx)
			if err == nil {
				src.Invalidate(tok)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent refresh: %v", err)
		}
	}

	// A restarted process continues from the stored refresh token.
	latest, _ := store.last()
	again, err := entra.NewGrant(cfg, latest, store.Store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Source(info.GraphScope).Token(ctx); err != nil {
		t.Fatalf("from the stored refresh token: %v", err)
	}

	// Revoked sessions: the next refresh asks for a new sign-in.
	srv.RevokeRefreshTokens(info.TenantID, "")
	latest, _ = store.last()
	revoked, _ := entra.NewGrant(cfg, latest, nil)
	_, err = revoked.Source(info.GraphScope).Token(ctx)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), latest) {
		t.Fatalf("revoked: %v", err)
	}
}

func TestSimulatorRefreshTokenInactivity(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := mscloud.Start(ctx, mscloud.Config{Seed: 6, Tenants: []mscloud.TenantConfig{{Options: tenant.Options{Users: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	info := srv.Info()
	redirect := "http://localhost:8400/cb"
	cfg := entra.DelegatedConfig{LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID,
		ClientSecret: info.ClientSecret, RedirectURI: redirect, HTTPClient: srv.Client()}
	pkce, _ := entra.NewPKCE()
	scopes := entra.SignInScopes(info.GraphScope)
	authURL, _ := entra.AuthCodeURL(cfg, scopes, "st-1", pkce, "")
	store := &memStore{}
	if _, err := entra.ExchangeCode(ctx, cfg, signIn(t, srv, authURL, enabledUser(t, srv.Tenant()), redirect), pkce, scopes, store.Store); err != nil {
		t.Fatal(err)
	}
	srv.Tenant().Advance(100 * 24 * time.Hour)
	rt, _ := store.last()
	g, _ := entra.NewGrant(cfg, rt, nil)
	_, err = g.Source(info.GraphScope).Token(ctx)
	oe, ok := odata.AsError(err)
	if !sam.IsCode(err, sam.EUNAUTHORIZED) || !ok || oe.ErrorCodes[0] != 700082 || !strings.Contains(err.Error(), "sign in again") {
		t.Fatalf("inactive refresh token: %v", err)
	}

	// Client-secret expiry, on the tenant clock, for app-only sign-in.
	srv.UpdateApp(info.TenantID, func(a *mscloud.App) { a.SecretExpires = srv.Tenant().Now().Add(-time.Hour) })
	cc, err := entra.ClientCredentials(entra.Config{LoginURL: info.LoginURL, TenantID: info.TenantID, ClientID: info.ClientID,
		ClientSecret: info.ClientSecret, Scope: info.GraphScope, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Token(ctx); !sam.IsCode(err, sam.EUNAUTHORIZED) || !strings.Contains(err.Error(), "has expired") {
		t.Fatalf("expired secret: %v", err)
	}
}
