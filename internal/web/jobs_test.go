package web_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/web"
)

func TestJobsAPI(t *testing.T) {
	b := setup(t, func(c *web.Config) {
		r, err := job.New(t.Context(), job.Config{Store: c.Store, Keyring: c.Keyring, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.Jobs = r
	})
	seed(t, b.st, "contoso", 3)
	integ := bearer(b.token(auth.RoleSAMIntegrator))
	admin := bearer(b.token(auth.RoleAdmin))

	var trig web.RunTriggered
	r := b.do(nil, "POST", "/api/v1/profiles/contoso/runs", nil, integ)
	if r.status != 202 {
		t.Fatalf("trigger: %d %s", r.status, r.body)
	}
	r.json(t, &trig)
	if trig.JobID == 0 || trig.Kind != "sync" || r.header.Get("Location") != fmt.Sprintf("/api/v1/jobs/%d", trig.JobID) {
		t.Errorf("triggered %+v %s", trig, r.header.Get("Location"))
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"again while waiting", "POST", "/api/v1/profiles/contoso/runs", nil, 409},
		{"activity only", "POST", "/api/v1/profiles/contoso/runs", web.RunTrigger{Kind: "activity"}, 202},
		{"unknown kind", "POST", "/api/v1/profiles/contoso/runs", web.RunTrigger{Kind: "mine"}, 400},
		{"unknown profile", "POST", "/api/v1/profiles/nope/runs", nil, 404},
	}
	for _, tc := range tests {
		if r := b.do(nil, tc.method, tc.path, tc.body, integ); r.status != tc.status {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	var page web.JobPage
	b.do(nil, "GET", "/api/v1/jobs?profile=contoso&state=available", nil, integ).json(t, &page)
	if len(page.Items) != 2 || page.Items[1].ID != trig.JobID || page.Items[0].Profile != "contoso" {
		t.Errorf("jobs %+v", page)
	}
	var one web.JobJSON
	b.do(nil, "GET", fmt.Sprintf("/api/v1/jobs/%d", trig.JobID), nil, integ).json(t, &one)
	if one.State != "available" || one.Kind != "sync" {
		t.Errorf("job %+v", one)
	}
	var scs []web.ScheduleJSON
	b.do(nil, "GET", "/api/v1/schedules", nil, integ).json(t, &scs)
	if len(scs) == 0 {
		t.Fatal("no schedules")
	}
	name := scs[0].Name
	var sc web.ScheduleJSON
	spec := "daily 03:30"
	r = b.do(nil, "PATCH", "/api/v1/schedules/"+name, web.SchedulePatch{Spec: &spec}, admin)
	if r.status != 200 {
		t.Fatalf("patch schedule: %d %s", r.status, r.body)
	}
	r.json(t, &sc)
	if sc.Spec != "daily 03:30" || !sc.Enabled || sc.NextAt == nil || sc.NextAt.Hour() != 3 || sc.NextAt.Minute() != 30 {
		t.Errorf("schedule %+v", sc)
	}
	bad := "sometimes"
	if r := b.do(nil, "PATCH", "/api/v1/schedules/"+name, web.SchedulePatch{Spec: &bad}, admin); r.status != 400 {
		t.Errorf("bad spec: %d %s", r.status, r.body)
	}
	if r := b.do(nil, "PATCH", "/api/v1/schedules/nope", web.SchedulePatch{Spec: &spec}, admin); r.status != 404 {
		t.Errorf("unknown schedule: %d", r.status)
	}
	r = b.do(nil, "GET", "/metrics", nil, admin)
	for _, want := range []string{`seatwise_jobs_open{state="available"} 2`, "seatwise_jobs_running_here 0"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var st web.StatusJSON
	b.do(nil, "GET", "/api/v1/status", nil, integ).json(t, &st)
	if !st.Capabilities["jobs"].Available || st.Database != "sqlite" {
		t.Errorf("status %+v", st)
	}
}

func TestRunNowButton(t *testing.T) {
	b := setup(t, func(c *web.Config) {
		r, err := job.New(t.Context(), job.Config{Store: c.Store, Keyring: c.Keyring, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.Jobs = r
	})
	seed(t, b.st, "contoso", 2)
	c := b.client()
	csrf := b.login(c, "u-sam_integrator", password)
	html := map[string]string{"Accept": "text/html"}
	r := b.do(c, "GET", "/profiles", nil, html)
	if !strings.Contains(string(r.body), `action="/profiles/contoso/run"`) {
		t.Fatalf("no Run now button: %s", r.body)
	}
	r = b.do(c, "POST", "/profiles/contoso/run", url.Values{"csrf": {csrf}}, html)
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/runs?triggered=") {
		t.Fatalf("run now: %d %s", r.status, r.header.Get("Location"))
	}
	r = b.do(c, "GET", r.header.Get("Location"), nil, html)
	for _, want := range []string{"queued", "manual", "available", "daily 02:00"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("runs page lacks %q", want)
		}
	}
	// Twice: the job is already waiting.
	if r := b.do(c, "POST", "/profiles/contoso/run", url.Values{"csrf": {csrf}}, html); r.status != 409 {
		t.Errorf("second run now: %d", r.status)
	}
	// A viewer sees no button and may not press it.
	v := b.client()
	vcsrf := b.login(v, "u-viewer", password)
	if r := b.do(v, "GET", "/profiles", nil, html); strings.Contains(string(r.body), "Run now") {
		t.Error("viewer sees Run now")
	}
	if r := b.do(v, "POST", "/profiles/contoso/run", url.Values{"csrf": {vcsrf}}, nil); r.status != 403 {
		t.Errorf("viewer run now: %d", r.status)
	}
}
