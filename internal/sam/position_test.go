package sam

import (
	"strings"
	"testing"
	"time"
)

func TestComputePosition(t *testing.T) {
	asOf := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	d := func(s string) time.Time { tt, _ := time.Parse(time.DateOnly, s); return tt }
	model := SoftwareModel{SKUID: "00000000-0000-4000-8000-000000000001", PartNumber: "D365_SALES_PRO", Product: "Dynamics 365 Sales Professional"}
	ent := func(id, qty, cost int64, cur, from, to string) Entitlement {
		return Entitlement{ID: id, ProfileID: 1, SKUID: model.SKUID, Quantity: qty, UnitCost: cost, Currency: cur,
			TermStart: d(from), TermEnd: d(to), Commitment: CommitmentAnnual}
	}
	closed := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	closedLastYear := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		model      SoftwareModel
		ents       []Entitlement
		used       int64
		cands      []SavingsCandidate
		want       Position // compared field by field below
		wantSource string
		wantErr    string
	}{
		{
			name: "compliant with surplus",
			ents: []Entitlement{ent(1, 100, 6500, "USD", "2026-01-01", "2026-12-31")},
			used: 80,
			want: Position{Owned: 100, Used: 80, Available: 20, Shortfall: 0, Currency: "USD", MonthlyCost: 650000,
				AverageUnitPrice: 6500, OverLicensed: 130000, TrueUpCost: 0, Compliant: true, ActiveEntitlements: 1},
			wantSource: PriceFromEntitlements,
		},
		{
			name:       "exactly used up",
			ents:       []Entitlement{ent(1, 50, 6500, "USD", "2026-01-01", "2026-12-31")},
			used:       50,
			want:       Position{Owned: 50, Used: 50, Currency: "USD", MonthlyCost: 325000, AverageUnitPrice: 6500, Compliant: true, ActiveEntitlements: 1},
			wantSource: PriceFromEntitlements,
		},
		{
			name: "shortfall",
			ents: []Entitlement{ent(1, 10, 9500, "EUR", "2026-01-01", "2026-12-31")},
			used: 13,
			want: Position{Owned: 10, Used: 13, Shortfall: 3, Currency: "EUR", MonthlyCost: 95000, AverageUnitPrice: 9500,
				TrueUpCost: 28500, Compliant: false, ActiveEntitlements: 1},
			wantSource: PriceFromEntitlements,
		},
		{
			// 30 × 65.00 + 10 × 50.00 = 2450.00 for 40 rights: average 61.25.
			name: "multiple entitlements per model, weighted average",
			ents: []Entitlement{ent(1, 30, 6500, "USD", "2026-01-01", "2026-12-31"), ent(2, 10, 5000, "USD", "2026-06-01", "2027-05-31")},
			used: 45,
			want: Position{Owned: 40, Used: 45, Shortfall: 5, Currency: "USD", MonthlyCost: 245000, AverageUnitPrice: 6125,
				TrueUpCost: 30625, ActiveEntitlements: 2},
			wantSource: PriceFromEntitlements,
		},
		{
			// 1 × 10.00 + 2 × 10.01 = 30.02 / 3 = 10.0066… → 10.01.
			name: "average rounds half up to the cent",
			ents: []Entitlement{ent(1, 1, 1000, "USD", "2026-01-01", "2026-12-31"), ent(2, 2, 1001, "USD", "2026-01-01", "2026-12-31")},
			used: 1,
			want: Position{Owned: 3, Used: 1, Available: 2, Currency: "USD", MonthlyCost: 3002, AverageUnitPrice: 1001,
				OverLicensed: 2002, Compliant: true, ActiveEntitlements: 2},
			wantSource: PriceFromEntitlements,
		},
		{
			// The expired (and the future) entitlement, in another currency
			// even, are ignored; the term end day itself still counts.
			name: "expired and future entitlements ignored",
			ents: []Entitlement{ent(1, 100, 7000, "GBP", "2025-01-01", "2026-06-14"), ent(2, 20, 6500, "USD", "2025-06-15", "2026-06-15"),
				ent(3, 500, 6500, "USD", "2026-06-16", "2027-06-15")},
			used: 25,
			want: Position{Owned: 20, Used: 25, Shortfall: 5, Currency: "USD", MonthlyCost: 130000, AverageUnitPrice: 6500,
				TrueUpCost: 32500, ActiveEntitlements: 1, IgnoredEntitlements: 2},
			wantSource: PriceFromEntitlements,
		},
		{
			name:    "mixed currencies refused",
			ents:    []Entitlement{ent(1, 10, 6500, "USD", "2026-01-01", "2026-12-31"), ent(2, 10, 6000, "EUR", "2026-01-01", "2026-12-31")},
			used:    5,
			wantErr: "several currencies (EUR, USD)",
		},
		{
			name:       "no entitlement: list price of the model prices the true-up",
			model:      SoftwareModel{SKUID: model.SKUID, PartNumber: "D365_SALES_PRO", UnitPrice: 6500, Currency: "USD"},
			used:       4,
			want:       Position{Used: 4, Shortfall: 4, Currency: "USD", AverageUnitPrice: 6500, TrueUpCost: 26000},
			wantSource: PriceFromModel,
		},
		{
			name:       "no entitlement and no price",
			used:       2,
			want:       Position{Used: 2, Shortfall: 2},
			wantSource: PriceUnknown,
		},
		{
			name: "savings from candidates: open, closed this year, closed last year",
			ents: []Entitlement{ent(1, 10, 6500, "USD", "2026-01-01", "2026-12-31")},
			used: 8,
			cands: []SavingsCandidate{{SubscriptionID: 1}, {SubscriptionID: 2, Amount: 5000, Currency: "USD"},
				{SubscriptionID: 3, ClosedAt: &closed}, {SubscriptionID: 4, ClosedAt: &closedLastYear}},
			want: Position{Owned: 10, Used: 8, Available: 2, Currency: "USD", MonthlyCost: 65000, AverageUnitPrice: 6500,
				OverLicensed: 13000, PotentialSavings: 11500, RealisedSavings: 6500, OpenCandidates: 2, Compliant: true, ActiveEntitlements: 1},
			wantSource: PriceFromEntitlements,
		},
		{
			name:    "candidate in another currency refused",
			ents:    []Entitlement{ent(1, 10, 6500, "USD", "2026-01-01", "2026-12-31")},
			used:    8,
			cands:   []SavingsCandidate{{SubscriptionID: 9, Amount: 100, Currency: "EUR"}},
			wantErr: "different currencies",
		},
		{
			name:    "negative used refused",
			used:    -1,
			wantErr: "negative",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := model
			if tc.model.SKUID != "" {
				m = tc.model
			}
			got, err := ComputePosition(PositionInput{ProfileID: 1, Model: m, AsOf: asOf, Entitlements: tc.ents, Used: tc.used, Candidates: tc.cands})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !IsCode(err, EINVALID) {
					t.Fatalf("error = %v, want EINVALID containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			type fig struct {
				name      string
				got, want any
			}
			for _, f := range []fig{
				{"owned", got.Owned, w.Owned}, {"used", got.Used, w.Used}, {"available", got.Available, w.Available},
				{"shortfall", got.Shortfall, w.Shortfall}, {"currency", got.Currency, w.Currency}, {"monthly cost", got.MonthlyCost, w.MonthlyCost},
				{"average unit price", got.AverageUnitPrice, w.AverageUnitPrice}, {"over-licensed", got.OverLicensed, w.OverLicensed},
				{"true-up", got.TrueUpCost, w.TrueUpCost}, {"potential", got.PotentialSavings, w.PotentialSavings},
				{"realised", got.RealisedSavings, w.RealisedSavings}, {"open candidates", got.OpenCandidates, w.OpenCandidates},
				{"compliant", got.Compliant, w.Compliant}, {"active entitlements", got.ActiveEntitlements, w.ActiveEntitlements},
				{"ignored entitlements", got.IgnoredEntitlements, w.IgnoredEntitlements}, {"price source", got.PriceSource, tc.wantSource},
			} {
				if f.got != f.want {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
			}
			// Every figure is explained, with its arithmetic.
			figures := map[string]bool{}
			for _, e := range got.Explain {
				if e.Value == "" || e.Arithmetic == "" {
					t.Errorf("explanation of %q is incomplete: %+v", e.Figure, e)
				}
				figures[e.Figure] = true
			}
			for _, f := range []string{"rights owned", "rights used", "available", "shortfall", "status", "average unit price",
				"over-licensed amount", "true-up cost", "potential savings", "realised savings"} {
				if !figures[f] {
					t.Errorf("figure %q is not explained", f)
				}
			}
			if tc.cands == nil && !strings.Contains(got.CandidatesSource, "none configured") {
				t.Errorf("candidates source = %q, want the statement that none is configured", got.CandidatesSource)
			}
		})
	}
}

func TestComputePositionExplainsArithmetic(t *testing.T) {
	asOf := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	e := Entitlement{ID: 7, ProfileID: 1, SKUID: "00000000-0000-4000-8000-000000000001", Quantity: 10, UnitCost: 9500, Currency: "EUR",
		TermStart: asOf.AddDate(0, -1, 0), TermEnd: asOf.AddDate(1, 0, 0), Commitment: CommitmentAnnual}
	p, err := ComputePosition(PositionInput{Model: SoftwareModel{SKUID: e.SKUID, PartNumber: "X"}, AsOf: asOf, Entitlements: []Entitlement{e}, Used: 13})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"true-up cost": "shortfall × average unit price = 3 × 95.00 EUR = 285.00 EUR per month",
		"shortfall":    "max(used − owned, 0) = max(13 − 10, 0) = 3",
	}
	for _, ex := range p.Explain {
		if w, ok := want[ex.Figure]; ok && ex.Arithmetic != w {
			t.Errorf("%s: arithmetic %q, want %q", ex.Figure, ex.Arithmetic, w)
		}
		if ex.Figure == "rights owned" && (len(ex.Inputs) != 1 || !strings.Contains(ex.Inputs[0], "entitlement #7: 10 × 95.00 EUR")) {
			t.Errorf("rights owned inputs = %q", ex.Inputs)
		}
	}
}

func TestEntitlementValidate(t *testing.T) {
	good := func() Entitlement {
		return Entitlement{ProfileID: 1, SKUID: "00000000-0000-4000-8000-000000000001", Quantity: 5, UnitCost: 100, Currency: "USD",
			TermStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), TermEnd: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), Commitment: CommitmentAnnual}
	}
	tests := []struct {
		name   string
		mutate func(e *Entitlement)
		want   string
	}{
		{"valid", func(e *Entitlement) {}, ""},
		{"one-day term", func(e *Entitlement) { e.TermEnd = e.TermStart }, ""},
		{"free licences", func(e *Entitlement) { e.UnitCost = 0 }, ""},
		{"no profile", func(e *Entitlement) { e.ProfileID = 0 }, "profile"},
		{"bad sku", func(e *Entitlement) { e.SKUID = "sales" }, "not a GUID"},
		{"zero quantity", func(e *Entitlement) { e.Quantity = 0 }, "quantity"},
		{"negative cost", func(e *Entitlement) { e.UnitCost = -1 }, "unit cost"},
		{"bad currency", func(e *Entitlement) { e.Currency = "usd" }, "currency"},
		{"no start", func(e *Entitlement) { e.TermStart = time.Time{} }, "term start"},
		{"no end", func(e *Entitlement) { e.TermEnd = time.Time{} }, "term end is required"},
		{"end before start", func(e *Entitlement) { e.TermEnd = e.TermStart.AddDate(0, 0, -1) }, "before term start"},
		{"bad commitment", func(e *Entitlement) { e.Commitment = "weekly" }, "commitment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := good()
			tc.mutate(&e)
			err := e.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !IsCode(err, EINVALID) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want EINVALID containing %q", err, tc.want)
			}
		})
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65", 6500, true}, {"65.5", 6550, true}, {"65.05", 6505, true}, {"0", 0, true}, {" 1234.50 ", 123450, true},
		{"", 0, false}, {"-1", 0, false}, {"1.234", 0, false}, {"1,234.50", 0, false}, {"abc", 0, false}, {"1.", 0, false}, {".5", 0, false},
		{"1e3", 0, false}, {"9999999999999999", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseMoney(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && FormatMoney(got, "") != strings.TrimSpace(FormatMoney(got, "")) {
			t.Errorf("FormatMoney(%d) has spaces", got)
		}
	}
	if s := FormatMoney(-150, "USD"); s != "-1.50 USD" {
		t.Errorf("FormatMoney(-150) = %q", s)
	}
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"65", "65.50", "0.01", "-1", "1.234", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMoney(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseMoney(%q) = %d, negative", s, v)
		}
		back, err := ParseMoney(FormatMoney(v, ""))
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %d → %q → %d, %v", s, v, FormatMoney(v, ""), back, err)
		}
	})
}
