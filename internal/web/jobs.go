package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/job"
	"github.com/seatwise/seatwise/internal/sam"
)

// errNoJobs answers job endpoints on a server that runs no job queue.
var errNoJobs = sam.Errorf(sam.EUNAVAILABLE, "the job queue is not running on this server (started with --no-jobs): runs cannot be triggered or scheduled here; use `seatwise sync` or another instance")

// JobJSON is one unit of background work.
type JobJSON struct {
	ID         int64         `json:"id"`
	Kind       string        `json:"kind"`
	Profile    string        `json:"profile"`
	Schedule   string        `json:"schedule,omitempty"`
	State      string        `json:"state"`
	Attempt    int           `json:"attempt"`
	RunAt      time.Time     `json:"run_at"`
	CreatedAt  time.Time     `json:"created_at"`
	StartedAt  *time.Time    `json:"started_at,omitempty"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
	Owner      string        `json:"owner,omitempty"`
	RunIDs     []int64       `json:"run_ids"`
	Result     string        `json:"result,omitempty"`
	Error      string        `json:"error,omitempty"`
	Attempts   []AttemptJSON `json:"attempts,omitempty"`
}

// AttemptJSON is one execution of a job.
type AttemptJSON struct {
	Attempt    int        `json:"attempt"`
	Owner      string     `json:"owner"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// JobPage is a page of jobs, newest first.
type JobPage struct {
	Items      []JobJSON `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ScheduleJSON is when a kind of job runs for every profile.
type ScheduleJSON struct {
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Spec      string     `json:"spec"`
	Enabled   bool       `json:"enabled"`
	NextAt    *time.Time `json:"next_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// SchedulePatch changes a schedule: spec is "daily HH:MM", "weekly DAY
// HH:MM" or "every DURATION" (UTC).
type SchedulePatch struct {
	Spec    *string `json:"spec,omitempty"`
	Enabled *bool   `json:"enabled,omitempty"`
}

// RunTrigger asks for a job of a profile now: kind sync (default:
// subscriptions then activity), subscriptions, activity or reconciliation.
type RunTrigger struct {
	Kind string `json:"kind,omitempty"`
}

// RunTriggered names the job that will do the work.
type RunTriggered struct {
	JobID   int64  `json:"job_id"`
	Profile string `json:"profile"`
	Kind    string `json:"kind"`
}

func newJobJSON(j *job.Job, names map[int64]string) JobJSON {
	out := JobJSON{ID: j.ID, Kind: string(j.Kind), Profile: names[j.ProfileID], Schedule: j.Schedule, State: string(j.State),
		Attempt: j.Attempt, RunAt: j.RunAt.UTC(), CreatedAt: j.CreatedAt.UTC(), Owner: j.Owner, RunIDs: j.RunIDs,
		Result: j.Result, Error: j.Error}
	if j.StartedAt != nil {
		out.StartedAt = timePtr(*j.StartedAt)
	}
	if j.FinishedAt != nil {
		out.FinishedAt = timePtr(*j.FinishedAt)
	}
	if out.RunIDs == nil {
		out.RunIDs = []int64{}
	}
	return out
}

func (s *Server) jobKind(k string) (job.Kind, error) {
	if k == "" {
		return job.KindSync, nil
	}
	for _, known := range s.cfg.Jobs.Kinds() {
		if string(known) == k {
			return known, nil
		}
	}
	var names []string
	for _, known := range s.cfg.Jobs.Kinds() {
		names = append(names, string(known))
	}
	return "", sam.Errorf(sam.EINVALID, "kind %q: want one of %s", k, strings.Join(names, ", "))
}

func apiRunTrigger(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in RunTrigger
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	p, err := s.cfg.Store.ProfileByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if s.cfg.Jobs == nil {
		return errNoJobs
	}
	kind, err := s.jobKind(in.Kind)
	if err != nil {
		return err
	}
	id, err := s.cfg.Jobs.Trigger(r.Context(), p.ID, kind)
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/jobs/%d", id))
	writeJSON(w, http.StatusAccepted, RunTriggered{JobID: id, Profile: p.Name, Kind: string(kind)})
	return nil
}

func apiJobs(s *Server, w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Jobs == nil {
		return errNoJobs
	}
	q := r.URL.Query()
	var f job.JobFilter
	var err error
	if f.ProfileID, err = s.profileParam(r); err != nil {
		return err
	}
	if k := q.Get("kind"); k != "" {
		kind, err := s.jobKind(k)
		if err != nil {
			return err
		}
		f.Kind = kind
	}
	switch st := job.State(q.Get("state")); st {
	case "", job.StateAvailable, job.StateRunning, job.StateSucceeded, job.StateFailed, job.StateSkipped:
		f.State = st
	default:
		return sam.Errorf(sam.EINVALID, "state %q: want available, running, succeeded, failed or skipped", st)
	}
	if f.Limit, err = intParam(q, "limit", 50, 1, 500); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		if f.BeforeID, err = strconv.ParseInt(c, 10, 64); err != nil || f.BeforeID <= 0 {
			return sam.Errorf(sam.EINVALID, "cursor %q is not one this server gave", c)
		}
	}
	jobs, err := s.cfg.Jobs.Jobs(r.Context(), f)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	page := JobPage{Items: jsonList(jobs, func(j *job.Job) JobJSON { return newJobJSON(j, names) })}
	if len(jobs) == f.Limit {
		page.NextCursor = strconv.FormatInt(jobs[len(jobs)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func apiJob(s *Server, w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Jobs == nil {
		return errNoJobs
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return sam.Errorf(sam.EINVALID, "job id %q: want a number", r.PathValue("id"))
	}
	j, err := s.cfg.Jobs.Job(r.Context(), id)
	if err != nil {
		return err
	}
	atts, err := s.cfg.Jobs.Attempts(r.Context(), id)
	if err != nil {
		return err
	}
	names, err := s.profileNames(r)
	if err != nil {
		return err
	}
	out := newJobJSON(j, names)
	for _, a := range atts {
		aj := AttemptJSON{Attempt: a.Attempt, Owner: a.Owner, StartedAt: a.StartedAt.UTC(), Outcome: a.Outcome, Error: a.Error}
		if a.FinishedAt != nil {
			aj.FinishedAt = timePtr(*a.FinishedAt)
		}
		out.Attempts = append(out.Attempts, aj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func newScheduleJSON(sc job.Schedule) ScheduleJSON {
	out := ScheduleJSON{Name: sc.Name, Kind: string(sc.Kind), Spec: sc.Spec, Enabled: sc.Enabled, UpdatedAt: sc.UpdatedAt.UTC()}
	if sc.Enabled {
		out.NextAt = timePtr(sc.NextAt)
	}
	return out
}

func apiSchedules(s *Server, w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Jobs == nil {
		return errNoJobs
	}
	scs, err := s.cfg.Jobs.Schedules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, jsonList(scs, newScheduleJSON))
	return nil
}

func apiSchedulePatch(s *Server, w http.ResponseWriter, r *http.Request) error {
	var in SchedulePatch
	if err := decode(r, &in); err != nil {
		return err
	}
	if s.cfg.Jobs == nil {
		return errNoJobs
	}
	name := r.PathValue("name")
	scs, err := s.cfg.Jobs.Schedules(r.Context())
	if err != nil {
		return err
	}
	var cur *job.Schedule
	for i := range scs {
		if scs[i].Name == name {
			cur = &scs[i]
		}
	}
	if cur == nil {
		return sam.Errorf(sam.ENOTFOUND, "schedule %q not found", name)
	}
	spec, enabled := cur.Spec, cur.Enabled
	if in.Spec != nil {
		spec = *in.Spec
	}
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	sc, err := s.cfg.Jobs.SetSchedule(r.Context(), name, spec, enabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newScheduleJSON(*sc))
	return nil
}

func (s *Server) jobRoutes() []*Route {
	return []*Route{
		{Method: "POST", Path: "/api/v1/profiles/{name}/runs", Access: integrators, API: true, Tag: "jobs",
			Summary: "Trigger a job of the profile now (sync, subscriptions, activity or reconciliation)", Body: RunTrigger{}, Resp: RunTriggered{}, Status: http.StatusAccepted, Handler: apiRunTrigger},
		{Method: "GET", Path: "/api/v1/jobs", Access: anyRole, API: true, Tag: "jobs", Summary: "List jobs, newest first",
			Query: []Param{{Name: "profile", Type: "string", Doc: "profile name"}, {Name: "kind", Type: "string", Doc: "job kind", Enum: []string{"sync", "subscriptions", "activity", "reconciliation"}},
				{Name: "state", Type: "string", Doc: "job state", Enum: []string{"available", "running", "succeeded", "failed", "skipped"}},
				{Name: "limit", Type: "integer", Doc: "1–500 (default 50)"}, {Name: "cursor", Type: "string", Doc: "next_cursor of the previous page"}},
			Resp: JobPage{}, Handler: apiJobs},
		{Method: "GET", Path: "/api/v1/jobs/{id}", Access: anyRole, API: true, Tag: "jobs", Summary: "Show a job with its attempts", Resp: JobJSON{}, Handler: apiJob},
		{Method: "GET", Path: "/api/v1/schedules", Access: anyRole, API: true, Tag: "jobs", Summary: "List schedules", Resp: []ScheduleJSON{}, Handler: apiSchedules},
		{Method: "PATCH", Path: "/api/v1/schedules/{name}", Access: admins, API: true, Tag: "jobs", Summary: "Edit a schedule (spec, enabled)", Body: SchedulePatch{}, Resp: ScheduleJSON{}, Handler: apiSchedulePatch},
	}
}
