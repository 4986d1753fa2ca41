package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// simProfile creates a draft client-secret profile called name for the
// simulator's tenant and all its environments, and stores clientSecret
// sealed with kr (no secret when "").
func simProfile(t *testing.T, st store.Store, kr *secret.Keyring, info mscloud.Info, name, clientSecret string) *sam.Profile {
	t.Helper()
	ctx := context.Background()
	p := &sam.Profile{Name: name, TenantID: info.TenantID, ClientID: info.ClientID, AuthMode: sam.AuthClientSecret,
		LoginURL: info.LoginURL, GraphURL: info.GraphURL, CAFile: info.CAFile, State: sam.ProfileDraft}
	for _, e := range info.Environments {
		p.Environments = append(p.Environments, sam.Environment{URL: e.URL, Name: e.Name})
	}
	if err := st.CreateProfile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if clientSecret != "" {
		sealed, err := kr.Seal([]byte(clientSecret))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutSecret(ctx, p.ID, sam.SecretClientSecret, sealed); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestSyncJob runs the built-in sync kinds against the simulator: a sync job
// writes a subscriptions run and an activity run, as `seatwise sync` does;
// profiles that are paused, need re-authentication or have no secret are
// skipped with the reason; rejected credentials fail the job at once.
func TestSyncJob(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := startSim(t, 8, 40, 10)
		ten := srv.Tenant()
		info := srv.Info()
		st := openStore(t, url)
		kr := newKeyring(t)
		newProfile := func(name, clientSecret string) *sam.Profile { return simProfile(t, st, kr, info, name, clientSecret) }
		good := newProfile("good", info.ClientSecret)
		r := newRunner(t, job.Config{Store: st, Keyring: kr, Clock: ten,
			Client: ingest.ClientOptions{HTTPClient: srv.Client(), BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}})

		id, err := r.Trigger(ctx, good.ID, job.KindSync)
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, r, id, job.StateSucceeded)
		if len(j.RunIDs) != 2 || !strings.Contains(j.Result, "subscriptions run") || !strings.Contains(j.Result, "activity run") {
			t.Fatalf("sync job = %+v", j)
		}
		for i, kind := range []sam.RunKind{sam.RunSubscriptions, sam.RunActivity} {
			run, err := st.Run(ctx, j.RunIDs[i])
			if err != nil || run.Kind != kind || run.Status != sam.RunSucceeded || run.ProfileID != good.ID || run.Requests == 0 {
				t.Errorf("run %d = %+v, %v", j.RunIDs[i], run, err)
			}
		}
		subs, err := st.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: good.ID, OpenOnly: true})
		if err != nil || len(subs) == 0 {
			t.Fatalf("subscriptions after the sync job: %d, %v", len(subs), err)
		}
		if p, _ := st.Profile(ctx, good.ID); p.State != sam.ProfileConnected {
			t.Errorf("profile state after sync = %s", p.State)
		}

		// The single kinds write one run each.
		for _, kind := range []job.Kind{job.KindSubscriptions, job.KindActivity} {
			id, err := r.Trigger(ctx, good.ID, kind)
			if err != nil {
				t.Fatal(err)
			}
			j := waitState(t, r, id, job.StateSucceeded)
			if len(j.RunIDs) != 1 {
				t.Fatalf("%s job = %+v", kind, j)
			}
			if run, _ := st.Run(ctx, j.RunIDs[0]); run == nil || string(run.Kind) != string(kind) {
				t.Errorf("%s job wrote run %+v", kind, run)
			}
		}

		// A reconciliation of the synced profile.
		id, err = r.Trigger(ctx, good.ID, job.KindReconcile)
		if err != nil {
			t.Fatal(err)
		}
		j = waitState(t, r, id, job.StateSucceeded)
		if len(j.RunIDs) != 1 || !strings.Contains(j.Result, "reconciliation run") {
			t.Fatalf("reconciliation job = %+v", j)
		}
		if run, err := st.Run(ctx, j.RunIDs[0]); err != nil || run.Kind != sam.RunReconciliation || run.Status != sam.RunSucceeded {
			t.Errorf("reconciliation run = %+v, %v", run, err)
		}

		// Skipped with a reason, writing no run.
		noSecret := newProfile("nosecret", "")
		skips := []struct {
			name    string
			profile int64
			state   sam.ProfileState
			message string
			want    string
		}{
			{"paused", good.ID, sam.ProfilePaused, "by the licence team", "profile good is paused: by the licence team"},
			{"needs reauth", good.ID, sam.ProfileNeedsReauth, "client secret expired", "profile good needs re-authentication: client secret expired"},
			{"no secret", noSecret.ID, sam.ProfileDraft, "", "profile nosecret is not connected yet"},
		}
		for _, tt := range skips {
			if err := st.SetProfileState(ctx, tt.profile, tt.state, tt.message); err != nil {
				t.Fatal(err)
			}
			id, err := r.Trigger(ctx, tt.profile, job.KindSync)
			if err != nil {
				t.Fatal(err)
			}
			j := waitState(t, r, id, job.StateSkipped)
			if !strings.Contains(j.Result, tt.want) || len(j.RunIDs) != 0 || j.Attempt != 1 {
				t.Errorf("%s: job = %+v, want result %q", tt.name, j, tt.want)
			}
		}

		// Rejected credentials: failed at the first attempt, profile needs re-authentication.
		bad := newProfile("bad", "not-the-secret")
		id, err = r.Trigger(ctx, bad.ID, job.KindSync)
		if err != nil {
			t.Fatal(err)
		}
		j = waitState(t, r, id, job.StateFailed)
		if j.Attempt != 1 || len(j.RunIDs) != 1 || j.Error == "" || strings.Contains(j.Error, "not-the-secret") {
			t.Errorf("job with a rejected secret = %+v", j)
		}
		if p, _ := st.Profile(ctx, bad.ID); p.State != sam.ProfileNeedsReauth {
			t.Errorf("profile state after rejected secret = %s", p.State)
		}
	})
}

// TestSyncJobRetries: Graph failing with server errors beyond the client's
// own retries fails the first attempt; the job is retried after its backoff
// and the second attempt completes the sync.
func TestSyncJobRetries(t *testing.T) {
	eachDialect(t, func(t *testing.T, url string) {
		ctx := context.Background()
		srv := startSim(t, 9, 20, 5)
		info := srv.Info()
		st := openStore(t, url)
		kr := newKeyring(t)
		p := simProfile(t, st, kr, info, "sim", info.ClientSecret)
		if err := srv.SetFaults(mscloud.Faults{Graph: mscloud.FaultRates{Next: []string{"server_error", "server_error", "server_error"}}}); err != nil {
			t.Fatal(err)
		}
		r := newRunner(t, job.Config{Store: st, Keyring: kr, Clock: srv.Tenant(), Backoff: func(int) time.Duration { return 0 },
			Client: ingest.ClientOptions{HTTPClient: srv.Client(), MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
		id, err := r.Trigger(ctx, p.ID, job.KindSync)
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, r, id, job.StateSucceeded)
		as := attempts(t, r, id)
		if got := outcomes(as); len(got) != 2 || got[0] != "retry" || got[1] != "succeeded" || as[0].Error == "" {
			t.Fatalf("attempts = %+v", as)
		}
		if j.Attempt != 2 || j.Error != "" || len(j.RunIDs) < 2 {
			t.Errorf("job = %+v", j)
		}
		last, err := st.Run(ctx, j.RunIDs[len(j.RunIDs)-1])
		if err != nil || last.Kind != sam.RunActivity || last.Status != sam.RunSucceeded {
			t.Errorf("last run = %+v, %v", last, err)
		}
		subs, err := st.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true})
		if err != nil || len(subs) == 0 {
			t.Errorf("subscriptions after the retried sync: %d, %v", len(subs), err)
		}
	})
}
