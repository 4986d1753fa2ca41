package recon

import (
	"errors"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// FuzzImportEntitlements feeds arbitrary files to the CSV import: it never
// panics, a refused import writes nothing, and what an accepted one writes
// is valid.
func FuzzImportEntitlements(f *testing.F) {
	f.Add(header + "contoso,D365_SALES_PRO,10,65.00,USD,2026-01-01,2026-12-31,annual,CC-1,PO-1,good\n")
	f.Add(header + "contoso,D365_SALES_PRO,ten,65,USD,2026-01-01,2026-12-31,annual,,,\n")
	f.Add("\ufeffprofile,sku,quantity,unit_cost,currency,term_start,term_end,commitment\n\"contoso\",\"DYN365_TEAM_MEMBERS\",\"1\",\"0\",\"eur\",2026-01-01,2026-01-01,Monthly\n")
	f.Add(header + "contoso,D365_SALES_PRO,1,1,USD,2026-01-01\n\"unterminated\n")
	f.Add("")
	st := openStore(f)
	newProfile(f, st, "contoso")
	cat := catalog.Default()
	f.Fuzz(func(t *testing.T, in string) {
		before, err := st.Entitlements(t.Context(), store.EntitlementFilter{})
		if err != nil {
			t.Fatal(err)
		}
		created, err := ImportEntitlements(t.Context(), st, cat, strings.NewReader(in))
		after, lerr := st.Entitlements(t.Context(), store.EntitlementFilter{})
		if lerr != nil {
			t.Fatal(lerr)
		}
		if err != nil {
			var ie *ImportError
			if errors.As(err, &ie) && len(ie.Rows) == 0 {
				t.Fatal("import error without rows")
			}
			if !sam.IsCode(err, sam.EINVALID) && !sam.IsCode(err, sam.ECONFLICT) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if len(after) != len(before) {
				t.Fatalf("refused import wrote %d entitlements", len(after)-len(before))
			}
			return
		}
		if len(after) != len(before)+len(created) {
			t.Fatalf("import of %d entitlements: %d stored before, %d after", len(created), len(before), len(after))
		}
		for _, e := range created {
			if err := e.Validate(); err != nil {
				t.Fatalf("imported an invalid entitlement %+v: %v", e, err)
			}
		}
	})
}
