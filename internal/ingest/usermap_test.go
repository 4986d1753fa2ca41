package ingest

import (
	"testing"

	"github.com/seatwise/seatwise/internal/store"
)

func TestSystemUserMapResolve(t *testing.T) {
	const (
		sysA = "00000000-0000-0000-0000-00000000000a"
		sysB = "00000000-0000-0000-0000-00000000000b"
		sysC = "00000000-0000-0000-0000-00000000000c"
		aadA = "11111111-2222-3333-4444-5555555555aa"
	)
	rows := func() []store.StagedActivity {
		return []store.StagedActivity{{SystemUserID: sysA}, {SystemUserID: sysB}, {SystemUserID: sysC}, {SystemUserID: "not-a-guid"}}
	}
	tests := []struct {
		name  string
		users [][]store.SystemUser // pages
		fresh bool                 // listing read from its first page
		want  []string             // UserID per row; nil: left to the store
	}{
		{"mapped, unmapped, unknown", [][]store.SystemUser{{{SystemUserID: sysA, AADObjectID: "11111111-2222-3333-4444-5555555555AA"}}, {{SystemUserID: sysB}}}, true,
			[]string{aadA, "", "", ""}},
		{"last version wins", [][]store.SystemUser{{{SystemUserID: sysA}}, {{SystemUserID: sysA, AADObjectID: aadA}}}, true,
			[]string{aadA, "", "", ""}},
		{"listing resumed mid-way", [][]store.SystemUser{{{SystemUserID: sysA, AADObjectID: aadA}}}, false, nil},
		{"no users: the store falls back to stored ones", nil, true, nil},
		{"an id that is not a GUID", [][]store.SystemUser{{{SystemUserID: sysA, AADObjectID: aadA}, {SystemUserID: sysB, AADObjectID: "x"}}}, true, nil},
		{"a zero Entra id", [][]store.SystemUser{{{SystemUserID: sysA, AADObjectID: "00000000-0000-0000-0000-000000000000"}}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m *systemUserMap
			if tt.fresh {
				m = newSystemUserMap()
			}
			for _, page := range tt.users {
				m.add(page)
			}
			got := rows()
			m.resolve(got)
			for i, r := range got {
				if tt.want == nil {
					if r.Resolved || r.UserID != "" {
						t.Errorf("row %d = %+v, want it left to the store", i, r)
					}
					continue
				}
				if !r.Resolved || r.UserID != tt.want[i] {
					t.Errorf("row %d = resolved %v %q, want %q", i, r.Resolved, r.UserID, tt.want[i])
				}
			}
		})
	}
}
