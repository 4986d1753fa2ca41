package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

// runClock moves the simulated clock one hour every day/24 of real time
// until ctx is done. Each new simulated day brings a hire and a leaver in
// every tenant; the job runner is poked after each move so that due
// schedules enqueue their jobs at once, and every job that starts or ends
// is printed to w with the simulated time.
func (e *demoEstate) runClock(ctx context.Context, w io.Writer, day time.Duration, r *job.Runner, profiles []*sam.Profile) {
	names := map[int64]string{}
	for _, p := range profiles {
		names[p.ID] = p.Name
	}
	jw := &jobWatcher{r: r, names: names, started: map[int64]bool{}, ended: map[int64]bool{}}
	jw.poll(ctx, nil, e.Now()) // jobs of earlier runs of a --data directory are not news
	tick := time.NewTicker(day / 24)
	defer tick.Stop()
	today := sam.Day(e.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e.advance(time.Hour)
		now := e.Now()
		if d := sam.Day(now); d.After(today) {
			today = d
			fmt.Fprintf(w, "%s  a new simulated day\n", demoStamp(now))
			for i, t := range e.tenants {
				for _, ev := range e.dayChanges(i, t) {
					fmt.Fprintf(w, "%s  %s: %s\n", demoStamp(now), e.names[i], ev)
				}
			}
		}
		if r != nil {
			r.Poke()
			jw.poll(ctx, w, now)
		}
	}
}

// demoStamp formats a simulated time for the demo's log.
func demoStamp(t time.Time) string { return "[" + t.Format("Mon 2006-01-02 15:04") + " simulated]" }

// dayChanges makes the day's changes in tenant i: a new hire given the
// Dynamics 365 or Power Apps licence with the most free seats, and a
// licensed user leaving (account disabled, licences kept: a leaver whose
// licences should be removed). It returns what happened, in words.
func (e *demoEstate) dayChanges(i int, t *tenant.Tenant) []string {
	var out []string
	e.hires[i]++
	n := e.hires[i]
	given, surname := "New", fmt.Sprintf("Hire %d", n)
	u, err := t.AddUser(tenant.NewUser{DisplayName: given + " " + surname, GivenName: given, Surname: surname, JobTitle: "Sales Associate",
		Department: "Sales", Country: t.CountryLetterCode(), UsageLocation: t.CountryLetterCode(), AccountEnabled: true, Environments: []int{0}})
	if err != nil {
		out = append(out, "could not add a hire: "+err.Error())
	} else {
		var best tenant.SKU
		for _, s := range t.SKUs() {
			if _, ok := catalog.Default().Model(s.SKUID); ok && s.Available() > best.Available() {
				best = s
			}
		}
		what := "no free licence"
		if best.SKUID != "" {
			if _, err := t.AssignLicense(u.ID, []tenant.AssignedLicense{{SKUID: best.SKUID, DisabledPlans: []string{}}}, nil); err != nil {
				what = "licence not assigned: " + err.Error()
			} else {
				what = best.PartNumber
			}
		}
		out = append(out, fmt.Sprintf("hired %s (%s)", u.DisplayName, what))
	}
	// The leaver: the first enabled user holding a licence after the one
	// who left the day before, in the tenant's user order.
	users, _, err := t.UsersPage(e.leaverCursor(i), 1, func(u *tenant.User) bool {
		return u.AccountEnabled && len(u.AssignedLicenses) > 0 && u.Pattern != tenant.PatternAdmin
	})
	if err == nil && len(users) == 1 {
		if err := t.DisableUser(users[0].ID); err == nil {
			out = append(out, fmt.Sprintf("%s left (account disabled, %d licences still assigned)", users[0].DisplayName, len(users[0].AssignedLicenses)))
		}
	}
	return out
}

// leaverCursor spreads leavers over the tenant: it starts the search at a
// user that moves 97 places each day.
func (e *demoEstate) leaverCursor(i int) string {
	t := e.tenants[i]
	skip := (e.hires[i] * 97) % max(1, t.UserCount())
	if skip == 0 {
		return ""
	}
	_, next, err := t.UsersPage("", skip, nil)
	if err != nil {
		return ""
	}
	return next
}

// jobWatcher prints the jobs that started and ended since its last poll.
type jobWatcher struct {
	r              *job.Runner
	names          map[int64]string
	started, ended map[int64]bool
}

// poll reads the newest jobs; with w nil it only notes them.
func (jw *jobWatcher) poll(ctx context.Context, w io.Writer, now time.Time) {
	if jw.r == nil {
		return
	}
	jobs, err := jw.r.Jobs(ctx, job.JobFilter{Limit: 50})
	if err != nil {
		return
	}
	slices.Reverse(jobs) // oldest first
	for _, j := range jobs {
		what := fmt.Sprintf("job %d: %s of %s", j.ID, j.Kind, jw.profile(j.ProfileID))
		if j.Schedule != "" {
			what += " (schedule " + j.Schedule + ")"
		}
		if !jw.started[j.ID] && (j.State == job.StateRunning || j.State.Final()) {
			jw.started[j.ID] = true
			if w != nil {
				fmt.Fprintf(w, "%s  %s started\n", demoStamp(now), what)
			}
		}
		if !jw.ended[j.ID] && j.State.Final() {
			jw.ended[j.ID] = true
			if w != nil {
				detail := j.Result
				if j.Error != "" {
					detail = j.Error
				}
				fmt.Fprintf(w, "%s  %s %s: %s\n", demoStamp(now), what, j.State, detail)
			}
		}
	}
}

func (jw *jobWatcher) profile(id int64) string {
	if n, ok := jw.names[id]; ok {
		return n
	}
	return fmt.Sprintf("profile %d", id)
}
