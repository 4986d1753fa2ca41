package recon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// CandidatesFunc returns the removal candidates of one software model in one
// profile (open ones and those closed complete).
type CandidatesFunc func(ctx context.Context, profileID int64, skuID string) ([]sam.SavingsCandidate, error)

// Options tune a computation of positions.
type Options struct {
	// AsOf is the day the position is computed for; zero means now.
	AsOf time.Time
	// Candidates supplies removal candidates and CandidatesSource names
	// where they come from. Nil means the reclamation candidates in the
	// store, less those excluded now (store.ReclaimStore.SavingsCandidates,
	// ReclamationSource).
	Candidates       CandidatesFunc
	CandidatesSource string
	// OnRun, when set, is called by Reconcile with its run once the run is
	// started (it has an ID), before anything is computed: a job records
	// there which run it owns, so that a retry after a crash knows a run
	// that already committed.
	OnRun func(*sam.Run)
}

// ReclamationSource names the default candidates source: the removal
// candidates of internal/reclaim (open ones are potential savings, those
// closed complete this year and not undone are realised savings).
const ReclamationSource = "reclamation removal candidates (open: potential; removed this year: realised)"

// ModelError is a software model whose position could not be computed (for
// example entitlements in several currencies).
type ModelError struct {
	SKUID      string
	PartNumber string
	Err        error
}

// Result is the licence position of one profile.
type Result struct {
	Profile   *sam.Profile
	AsOf      time.Time
	Positions []sam.Position // ordered by family, then part number
	Refused   []ModelError   // models whose position was refused
}

// Err returns an EINVALID error listing the refused models, nil when none.
func (r *Result) Err() error {
	if len(r.Refused) == 0 {
		return nil
	}
	msgs := make([]string, len(r.Refused))
	for i, m := range r.Refused {
		msgs[i] = sam.ErrorMessage(m.Err)
	}
	return sam.Errorf(sam.EINVALID, "profile %s: %d software model(s) could not be reconciled: %s", r.Profile.Name, len(r.Refused), strings.Join(msgs, "; "))
}

// Compute computes the licence position of every software model of profile
// p that has open subscriptions or entitlements, as of opt.AsOf. Rights used
// come from counts the database aggregates (memory depends on the number of
// models, not of subscriptions). A model whose position is refused (mixed
// currencies) is listed in Result.Refused; the others are computed.
func Compute(ctx context.Context, st store.Store, p *sam.Profile, opt Options) (*Result, error) {
	asOf := opt.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	asOf = asOf.UTC()
	if opt.Candidates == nil {
		opt.Candidates, opt.CandidatesSource = st.SavingsCandidates, ReclamationSource
	}
	counts, err := st.CountOpenSubscriptions(ctx, store.CountFilter{ProfileID: p.ID})
	if err != nil {
		return nil, err
	}
	ents, err := st.Entitlements(ctx, store.EntitlementFilter{ProfileID: p.ID})
	if err != nil {
		return nil, err
	}
	used := map[string]int64{}
	skus := map[string]bool{}
	for _, c := range counts {
		used[c.SKUID] += c.Users
		skus[c.SKUID] = true
	}
	bySKU := map[string][]sam.Entitlement{}
	for _, e := range ents {
		bySKU[e.SKUID] = append(bySKU[e.SKUID], *e)
		skus[e.SKUID] = true
	}
	res := &Result{Profile: p, AsOf: asOf}
	if len(skus) == 0 {
		return res, nil
	}
	ids := make([]string, 0, len(skus))
	for s := range skus {
		ids = append(ids, s)
	}
	models, err := st.SoftwareModels(ctx, store.ModelFilter{SKUIDs: ids})
	if err != nil {
		return nil, err
	}
	byID := map[string]sam.SoftwareModel{}
	for _, m := range models {
		byID[m.SKUID] = m
	}
	for _, sku := range ids {
		m, ok := byID[sku]
		if !ok {
			m = sam.SoftwareModel{SKUID: sku, PartNumber: sku, Family: sam.FamilyOther, Metric: sam.MetricUserSubscription}
		}
		in := sam.PositionInput{ProfileID: p.ID, Model: m, AsOf: asOf, Entitlements: bySKU[sku], Used: used[sku],
			CandidatesSource: opt.CandidatesSource}
		if opt.Candidates != nil {
			cs, err := opt.Candidates(ctx, p.ID, sku)
			if err != nil {
				return nil, err
			}
			in.Candidates = cs
		}
		pos, err := sam.ComputePosition(in)
		if err != nil {
			if sam.IsCode(err, sam.EINVALID) {
				res.Refused = append(res.Refused, ModelError{SKUID: sku, PartNumber: m.PartNumber, Err: err})
				continue
			}
			return nil, err
		}
		res.Positions = append(res.Positions, pos)
	}
	SortPositions(res.Positions)
	sort.Slice(res.Refused, func(i, j int) bool { return res.Refused[i].PartNumber < res.Refused[j].PartNumber })
	return res, nil
}

// SortPositions orders positions by profile, family (catalog order, other
// last), part number and SKU.
func SortPositions(ps []sam.Position) {
	rank := func(f sam.Family) int {
		for i, x := range sam.Families {
			if x == f {
				return i
			}
		}
		return len(sam.Families)
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.ProfileID != b.ProfileID {
			return a.ProfileID < b.ProfileID
		}
		if rank(a.Family) != rank(b.Family) {
			return rank(a.Family) < rank(b.Family)
		}
		if a.PartNumber != b.PartNumber {
			return a.PartNumber < b.PartNumber
		}
		return a.SKUID < b.SKUID
	})
}

// Reconcile computes profile p's position as Compute does and records it as
// a reconciliation run (sam.RunReconciliation) with a snapshot of every
// position, so that trends and forecasts can be drawn. Refused models are
// the run's warnings, and the returned error (EINVALID, after the snapshot
// of the others is stored) lists them. A failure to compute finishes the
// run as failed. Only one reconciliation of a profile runs at a time (a
// second one waits, see store.ReconciliationStore.StartReconciliation); a
// run an earlier process left running when it died is closed as failed
// ("interrupted: superseded by run N").
func Reconcile(ctx context.Context, st store.Store, p *sam.Profile, opt Options) (*sam.Run, *Result, error) {
	if opt.AsOf.IsZero() {
		opt.AsOf = time.Now()
	}
	r := &sam.Run{ProfileID: p.ID, Kind: sam.RunReconciliation, Full: true}
	// One reconciliation per profile at a time: StartReconciliation waits
	// for another one still executing, and closes as failed the runs left
	// running by processes that died mid-run (nothing to resume: a
	// reconciliation recomputes everything from the data).
	_, release, err := st.StartReconciliation(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	if opt.OnRun != nil {
		opt.OnRun(r)
	}
	res, err := Compute(ctx, st, p, opt)
	if err != nil {
		r.Status, r.Error = sam.RunFailed, sam.ErrorMessage(err)
		if ferr := st.FinishRun(context.WithoutCancel(ctx), r); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return r, nil, err
	}
	var short, compliant int64
	for _, x := range res.Positions {
		if x.Compliant {
			compliant++
		} else {
			short++
		}
	}
	r.Counts = map[string]int64{"models_compliant": compliant, "models_not_compliant": short, "models_refused": int64(len(res.Refused))}
	for _, m := range res.Refused {
		r.Warnings = append(r.Warnings, sam.ErrorMessage(m.Err))
	}
	if err := st.CommitReconciliation(ctx, r, res.Positions); err != nil {
		r.Status, r.Error = sam.RunFailed, sam.ErrorMessage(err)
		if ferr := st.FinishRun(context.WithoutCancel(ctx), r); ferr != nil && !sam.IsCode(ferr, sam.ECONFLICT) {
			err = errors.Join(err, ferr)
		}
		return r, nil, fmt.Errorf("store reconciliation of profile %s: %w", p.Name, err)
	}
	return r, res, res.Err()
}
