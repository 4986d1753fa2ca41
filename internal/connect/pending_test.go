package connect_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/connect/connecttest"
	"github.com/seatwise/seatwise/internal/sam"
)

var pageTmpl = template.Must(template.New("p").Parse(`<h1>{{.T}}</h1><p id="message">{{.M}}</p>`))

// TestPendingServerCallback drives the sign-in through a server callback
// route built on Pending, as the web UI's Connect button does.
func TestPendingServerCallback(t *testing.T) {
	d := newDelegatedSetup(t)
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	pending := connect.NewPending(10*time.Minute, now)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next, s, err := pending.Callback(r.Context(), r.URL.Query())
		switch {
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
			pageTmpl.Execute(w, map[string]string{"T": "Seatwise could not connect", "M": sam.ErrorMessage(err)})
		case next != "":
			http.Redirect(w, r, next, http.StatusFound)
		default:
			if err := connect.MarkConnected(r.Context(), d.st, s.Profile(), now()); err != nil {
				t.Error(err)
			}
			pageTmpl.Execute(w, map[string]string{"T": "Seatwise is connected", "M": s.Profile().Name})
		}
	}))
	t.Cleanup(srv.Close)
	start := func(t *testing.T) string {
		t.Helper()
		s, err := connect.NewSignIn(d.p, connect.SignInConfig{RedirectURI: srv.URL + "/callback", ClientSecret: d.srv.Info().ClientSecret,
			HTTPClient: d.srv.Client(), Save: connect.RefreshTokenSaver(d.st, d.kr, d.p.ID)})
		if err != nil {
			t.Fatal(err)
		}
		u, err := pending.Start(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("forged state", func(t *testing.T) {
		b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user, Rewrite: func(loc string) string {
			u, _ := url.Parse(loc)
			q := u.Query()
			q.Set("state", "forged")
			u.RawQuery = q.Encode()
			return u.String()
		}}
		title, msg, err := b.Run(start(t))
		if err != nil || title != "Seatwise could not connect" || !strings.Contains(msg, "unknown or expired state") {
			t.Errorf("%q %q %v", title, msg, err)
		}
		if _, ok := d.refreshToken(t); ok {
			t.Error("a forged response stored a refresh token")
		}
	})
	t.Run("expired", func(t *testing.T) {
		u := start(t)
		clock.Add(int64((11 * time.Minute).Seconds()))
		b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user}
		title, msg, err := b.Run(u)
		if err != nil || title != "Seatwise could not connect" || !strings.Contains(msg, "unknown or expired state") {
			t.Errorf("%q %q %v", title, msg, err)
		}
	})
	t.Run("complete", func(t *testing.T) {
		b := &connecttest.Browser{HTTP: d.srv.Client(), Login: d.user}
		title, msg, err := b.Run(start(t))
		if err != nil || title != "Seatwise is connected" || msg != "contoso" || b.Consents != 3 {
			t.Fatalf("%q %q %v, %d consents", title, msg, err, b.Consents)
		}
		if pending.Len() != 0 {
			t.Errorf("%d sign-ins still pending", pending.Len())
		}
		p, err := d.st.Profile(context.Background(), d.p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.AuthMode != sam.AuthDelegated || p.State != sam.ProfileConnected {
			t.Errorf("profile %s %s", p.AuthMode, p.State)
		}
		if _, err := d.sync(t); err != nil {
			t.Errorf("sync after a server sign-in: %v", err)
		}
	})
}
