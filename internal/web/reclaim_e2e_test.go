package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	mstenant "github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/notify"
	"github.com/seatwise/seatwise/internal/notify/smtptest"
	"github.com/seatwise/seatwise/internal/web"
)

// simClock is the job runner's clock, set by the test.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// hookReceiver is an incoming webhook on loopback that checks each
// request's signature and keeps the payloads.
type hookReceiver struct {
	mu       sync.Mutex
	payloads []notify.WebhookPayload
	bad      []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.VerifySignature([]byte(hookSecret), r.Header.Get(notify.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p notify.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	h.payloads = append(h.payloads, p)
}

func (h *hookReceiver) list() []notify.WebhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.WebhookPayload(nil), h.payloads...)
}

const (
	hookSecret = "webhook signing key for the test"
	publicURL  = "https://seatwise.example.test"
	smtpUser   = "seatwise-notices"
	smtpPass   = "smtp password for the test"
)

// reclaimWorld is a server with jobs, reclamation and notifications over a
// real SMTP conversation and a webhook, against the simulated tenant.
type reclaimWorld struct {
	*bundle
	runner *job.Runner
	sim    *mscloud.Server
	ten    *mstenant.Tenant
	clk    *simClock
	smtp   *smtptest.Server
	hook   *hookReceiver
}

func newReclaimWorld(t *testing.T) *reclaimWorld {
	t.Helper()
	perms := []string{"User.Read.All", "LicenseAssignment.Read.All", "Organization.Read.All", "AuditLog.Read.All", "User.ReadWrite.All", "GroupMember.ReadWrite.All"}
	sim, err := mscloud.Start(context.Background(), mscloud.Config{Seed: 11, Tenants: []mscloud.TenantConfig{{Options: mstenant.Options{Seed: 11, Users: 60, Environments: 1}, GraphRoles: perms}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	w := &reclaimWorld{sim: sim, ten: sim.Tenant(), hook: &hookReceiver{}}
	w.clk = &simClock{t: w.ten.Now()}
	if w.smtp, err = smtptest.Start(smtptest.Options{Username: smtpUser, Password: smtpPass}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.smtp.Close() })
	hookSrv := httptest.NewServer(w.hook)
	t.Cleanup(hookSrv.Close)
	// Every user reports to the first one, so that requests to keep go to
	// a manager by e-mail.
	users, _, err := w.ten.UsersPage("", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users[1:] {
		if err := w.ten.SetManager(u.ID, users[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	w.bundle = setup(t, func(c *web.Config) {
		links, err := notify.NewLinks(c.Keyring)
		if err != nil {
			t.Fatal(err)
		}
		sender, err := notify.NewSMTPSender(notify.SMTPConfig{Host: w.smtp.Host, Port: w.smtp.Port, Username: smtpUser, Password: smtpPass,
			From: "Seatwise <seatwise@contoso.com>", TLSConfig: w.smtp.ClientTLSConfig(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hook, err := notify.NewWebhookSender(notify.WebhookConfig{URL: hookSrv.URL + "/webhookb2/secret", Secret: []byte(hookSecret), Backoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		n, err := notify.New(notify.Config{SMTP: sender, Webhook: hook, Links: links, BaseURL: publicURL, Now: w.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		r, err := job.New(t.Context(), job.Config{Store: c.Store, Keyring: c.Keyring, HTTPClient: sim.Client(), Clock: w.clk, Reclaim: true,
			Notifier: n, Logger: slog.New(slog.DiscardHandler), PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w.runner, c.Jobs = r, r
	})
	w.bundle.mu.Lock()
	w.bundle.now = w.clk.Now()
	w.bundle.mu.Unlock()
	if err := w.runner.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.runner.Stop(ctx)
	})
	return w
}

// waitUntil polls cond (poking the job runner) for up to a minute.
func (w *reclaimWorld) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		w.runner.Poke()
		time.Sleep(50 * time.Millisecond)
	}
}

// candidates lists candidates through the API.
func (w *reclaimWorld) candidates(t *testing.T, query string) []web.CandidateJSON {
	t.Helper()
	var page web.CandidatePage
	r := w.do(nil, "GET", "/api/v1/candidates?limit=1000&"+query, nil, bearer(w.token(auth.RoleViewer)))
	if r.status != 200 {
		t.Fatalf("candidates: %d %s", r.status, r.body)
	}
	r.json(t, &page)
	return page.Items
}

// local turns a link of a message (to the public address) into one to the
// test server.
func (w *reclaimWorld) local(link string) string {
	return strings.TrimPrefix(link, publicURL)
}

var mailLink = regexp.MustCompile(`https://seatwise\.example\.test/link\?t=[A-Za-z0-9._-]+`)

// mailTo returns the text of the messages sent to rcpt, oldest first.
func (w *reclaimWorld) mailTo(t *testing.T, rcpt string) []string {
	t.Helper()
	var out []string
	for _, m := range w.smtp.Messages() {
		if len(m.To) == 1 && strings.EqualFold(m.To[0], rcpt) {
			out = append(out, mailText(t, m))
		}
	}
	return out
}

// mailText is a message's raw body, quoted-printable soft line breaks
// joined so that links are whole; it also checks the delivery was over TLS
// and authenticated.
func mailText(t *testing.T, m smtptest.Message) string {
	t.Helper()
	if !m.TLS || m.AuthUser != smtpUser {
		t.Errorf("message to %v: TLS %t, authenticated as %q", m.To, m.TLS, m.AuthUser)
	}
	msg, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(msg.Body)
	return strings.ReplaceAll(strings.ReplaceAll(string(body), "=\r\n", ""), "=3D", "=")
}

// linkFor picks the link whose token carries action from a message.
func linkFor(t *testing.T, text, action string) string {
	t.Helper()
	for _, l := range mailLink.FindAllString(text, -1) {
		if strings.Contains(l, "."+action+".") {
			return l
		}
	}
	t.Fatalf("no %s link in %s", action, text)
	return ""
}

// TestReclaimEndToEnd: a sync of the simulated tenant through the job queue
// evaluates the rules and notifies each candidate's user by e-mail (a real
// SMTP conversation with STARTTLS and AUTH) and by a signed webhook; one
// user follows the keep link from the mail, the manager approves from the
// approval mail, and the candidate closes with the licence kept; another
// user follows the release link from the webhook and the licence is
// removed in the tenant, the user told so by mail.
func TestReclaimEndToEnd(t *testing.T) {
	w := newReclaimWorld(t)
	info := w.sim.Info()
	in := map[string]any{"name": "sim", "tenant_id": info.TenantID, "client_id": info.ClientID, "client_secret": info.ClientSecret,
		"login_url": info.LoginURL, "graph_url": info.GraphURL, "ca_file": info.CAFile,
		"environments": []map[string]string{{"url": info.Environments[0].URL}}}
	integrator := bearer(w.token(auth.RoleSAMIntegrator))
	if r := w.do(nil, "POST", "/api/v1/profiles", in, integrator); r.status != 201 {
		t.Fatalf("create profile: %d %s", r.status, r.body)
	}
	dry, capN, capP := false, 1000, 100
	if r := w.do(nil, "PATCH", "/api/v1/reclaim/settings", web.ReclaimSettingsPatch{DryRun: &dry, CapCount: &capN, CapPercent: &capP},
		bearer(w.token(auth.RoleAdmin))); r.status != 200 {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	if r := w.do(nil, "POST", "/api/v1/profiles/sim/runs", nil, integrator); r.status != 202 {
		t.Fatalf("trigger sync: %d %s", r.status, r.body)
	}
	var notified []web.CandidateJSON
	w.waitUntil(t, "every candidate's user notified", func() bool {
		notified = w.candidates(t, "open=true")
		for _, c := range notified {
			if c.State != "awaiting_user" {
				return false
			}
		}
		return len(notified) >= 2 && len(w.smtp.Messages()) >= len(notified) && len(w.hook.list()) >= len(notified)
	})
	if len(w.hook.bad) > 0 {
		t.Fatalf("webhook refused requests: %v", w.hook.bad)
	}
	t.Logf("%d users notified: %d mails, %d webhook posts", len(notified), len(w.smtp.Messages()), len(w.hook.list()))
	a, b := notified[0], notified[1]

	// The threshold simulation agrees with the evaluation at the rules'
	// 60 days, and selects fewer licences the longer the threshold.
	var sim web.SimulationJSON
	r := w.do(nil, "GET", "/api/v1/profiles/sim/reclaim/simulation?days=90,30,60", nil, bearer(w.token(auth.RoleViewer)))
	r.json(t, &sim)
	if r.status != 200 || len(sim.Thresholds) != 3 || sim.Thresholds[0].Days != 30 || sim.Thresholds[1].Count != len(notified) ||
		sim.Thresholds[0].Count < sim.Thresholds[1].Count || sim.Thresholds[1].Count < sim.Thresholds[2].Count {
		t.Errorf("simulation with %d candidates open: %d %s", len(notified), r.status, r.body)
	}
	if page := w.do(nil, "GET", "/reclaim/simulation?profile=sim&days=30,60", nil, map[string]string{"Accept": "text/html",
		"Authorization": "Bearer " + w.token(auth.RoleViewer)}); page.status != 200 || !strings.Contains(string(page.body), "60 days") {
		t.Errorf("simulation page: %d %.300s", page.status, page.body)
	}
	if r := w.do(nil, "GET", "/api/v1/profiles/sim/reclaim/simulation?days=0", nil, bearer(w.token(auth.RoleViewer))); r.status != 400 {
		t.Errorf("simulation with 0 days: %d", r.status)
	}

	// A: keep link from the e-mail; the manager approves from theirs.
	mails := w.mailTo(t, a.UPN)
	if len(mails) != 1 || !strings.Contains(mails[0], "Keep my licence") {
		t.Fatalf("mails to %s: %q", a.UPN, mails)
	}
	keep := w.local(linkFor(t, mails[0], "keep"))
	page := w.do(nil, "GET", keep, nil, htmlHdr)
	if page.status != 200 || !strings.Contains(string(page.body), "Keep my licence") {
		t.Fatalf("keep page: %d %s", page.status, page.body)
	}
	before := len(w.smtp.Messages())
	if r := w.do(nil, "POST", keep, url.Values{"reason": {"quarter-end reporting"}}, htmlHdr); r.status != 200 || !strings.Contains(string(r.body), "went for approval") {
		t.Fatalf("keep: %d %s", r.status, r.body)
	}
	var approval string
	w.waitUntil(t, "the approval mail", func() bool {
		for _, m := range w.smtp.Messages()[before:] {
			if msg, err := m.Parse(); err == nil && strings.Contains(msg.Header.Get("Subject"), "Approval") {
				approval = mailText(t, m)
				return true
			}
		}
		return false
	})
	approve := w.local(linkFor(t, approval, "approve"))
	if r := w.do(nil, "POST", approve, url.Values{}, htmlHdr); r.status != 200 || !strings.Contains(string(r.body), "Approved") {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	var detail web.CandidateJSON
	w.do(nil, "GET", "/api/v1/candidates/"+itoa(a.ID), nil, bearer(w.token(auth.RoleViewer))).json(t, &detail)
	if detail.State != "closed_skipped" {
		t.Fatalf("candidate A is %s, want closed_skipped", detail.State)
	}
	var actors []string
	for _, tr := range detail.Transitions {
		actors = append(actors, tr.To+" by "+tr.Actor)
	}
	joined := strings.Join(actors, "; ")
	if !strings.Contains(joined, "awaiting_approval by link:"+a.UPN) || !strings.Contains(joined, "closed_skipped by link:") {
		t.Errorf("transitions of A: %s", joined)
	}
	if r := w.do(nil, "POST", keep, url.Values{}, htmlHdr); r.status != 409 || !strings.Contains(string(r.body), "already used") {
		t.Errorf("keep link used twice: %d", r.status)
	}

	// B: release link from the webhook; the licence goes.
	var release string
	for _, p := range w.hook.list() {
		if p.Seatwise.CandidateID == b.ID && p.Seatwise.Kind == "user" {
			if p.Type != "MessageCard" || !strings.Contains(p.Text, "Release the licence") || len(p.PotentialAction) != 2 {
				t.Errorf("webhook payload for B: %+v", p)
			}
			for _, l := range p.Seatwise.Links {
				if l.Action == "release" {
					release = w.local(l.URL)
				}
			}
		}
	}
	if release == "" {
		t.Fatal("no release link for B in the webhook payloads")
	}
	if r := w.do(nil, "POST", release, url.Values{}, htmlHdr); r.status != 200 || !strings.Contains(string(r.body), "released") {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	w.waitUntil(t, "the removal of B's licence", func() bool {
		var c web.CandidateJSON
		w.do(nil, "GET", "/api/v1/candidates/"+itoa(b.ID), nil, bearer(w.token(auth.RoleViewer))).json(t, &c)
		return c.State == "closed_complete"
	})
	u, err := w.ten.User(b.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range u.AssignedLicenses {
		if strings.EqualFold(l.SKUID, b.SKUID) {
			t.Errorf("%s still holds %s in the tenant", b.UPN, b.SKUID)
		}
	}
	w.waitUntil(t, "the removal mail", func() bool {
		for _, m := range w.mailTo(t, b.UPN) {
			if strings.Contains(m, "was removed") {
				return true
			}
		}
		return false
	})
	for _, line := range w.smtp.Transcript() {
		if strings.Contains(line, smtpPass) {
			t.Errorf("SMTP transcript holds the password: %q", line)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
