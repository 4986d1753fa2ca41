package reclaim

import (
	"context"
	"sort"

	"github.com/seatwise/seatwise/internal/connect"
	"github.com/seatwise/seatwise/internal/ingest"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/secret"
	"github.com/seatwise/seatwise/internal/store"
)

// SimSKU is what one threshold would select for one software model.
type SimSKU struct {
	SKUID      string `json:"sku_id"`
	PartNumber string `json:"part_number"`
	Count      int    `json:"count"`
	// Saving is the monthly saving in minor units of Currency; licences
	// whose model has no unit price count in Count but not here (Unpriced).
	Saving   int64  `json:"saving"`
	Currency string `json:"currency,omitempty"`
	Unpriced int    `json:"unpriced"`
}

// SimThreshold is what rules with one inactivity threshold would select.
type SimThreshold struct {
	Days  int      `json:"days"`
	Count int      `json:"count"`
	SKUs  []SimSKU `json:"skus"` // by part number
}

// Simulate shows what the profile's rules would select with each inactivity
// threshold in days instead of their own, everything else (exclusions,
// conditions, grace, never-active, disabled accounts) as configured (the
// default rule for tracked models without one). It creates and changes
// nothing. EINVALID for a threshold below 1.
func (e *Engine) Simulate(ctx context.Context, p *sam.Profile, days []int) ([]SimThreshold, error) {
	for _, d := range days {
		if d < 1 {
			return nil, sam.Errorf(sam.EINVALID, "simulate: threshold %d days is not valid; use 1 or more", d)
		}
	}
	ec, err := e.newEvalCtx(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, m := range ec.models {
		if m.Tracked && ec.rules[m.SKUID] == nil {
			ec.rules[m.SKUID] = store.DefaultReclaimRule(p.ID, m.SKUID)
		}
	}
	type key struct {
		days int
		sku  string
	}
	agg := map[key]*SimSKU{}
	var after int64
	for {
		subs, err := e.Store.Subscriptions(ctx, store.SubscriptionFilter{ProfileID: p.ID, OpenOnly: true, AfterID: after, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			after = s.ID
			base := ec.rules[s.SKUID]
			if base == nil {
				continue
			}
			for _, d := range days {
				r := *base
				r.InactiveDays = d
				j, _, excluded, err := e.decide(ctx, ec, &r, s)
				if err != nil {
					return nil, err
				}
				if j == "" || excluded != "" {
					continue
				}
				k := key{d, s.SKUID}
				a := agg[k]
				if a == nil {
					m := ec.models[s.SKUID]
					a = &SimSKU{SKUID: s.SKUID, PartNumber: m.PartNumber, Currency: m.Currency}
					agg[k] = a
				}
				a.Count++
				if m := ec.models[s.SKUID]; m.UnitPrice > 0 {
					a.Saving += m.UnitPrice
				} else {
					a.Unpriced++
				}
			}
		}
		if len(subs) < pageSize {
			break
		}
	}
	out := make([]SimThreshold, len(days))
	for i, d := range days {
		out[i].Days = d
		out[i].SKUs = []SimSKU{}
		for k, a := range agg {
			if k.days == d {
				out[i].SKUs = append(out[i].SKUs, *a)
				out[i].Count += a.Count
			}
		}
		sort.Slice(out[i].SKUs, func(x, y int) bool { return out[i].SKUs[x].PartNumber < out[i].SKUs[y].PartNumber })
	}
	return out, nil
}

// ProfileGraph returns an Engine.Graph that connects to a profile's tenant
// as `seatwise sync` does: the client secret or stored sign-in opened with
// kr, clients tuned by opts.
func ProfileGraph(st store.Store, kr *secret.Keyring, opts ingest.ClientOptions) func(ctx context.Context, p *sam.Profile) (Graph, error) {
	return func(ctx context.Context, p *sam.Profile) (Graph, error) {
		cred, err := connect.Load(ctx, st, kr, p, opts.HTTPClient)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Tokens = cred.Source
		src, err := ingest.NewSources(p, "", o)
		if err != nil {
			return nil, err
		}
		return src.Graph.C, nil
	}
}
