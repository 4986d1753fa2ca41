package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// testActivityResolution checks how staged evidence finds its Entra user:
// through the Dataverse users the run staged for the environment, also when
// they are staged after the evidence, or through the environment's stored
// users when the run staged none there; what maps to nobody is counted as
// unmapped and not merged.
func testActivityResolution(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		// stored is the map a first run stores (system user n -> user n);
		// usersFirst stages the run's system users before the evidence,
		// usersAfter after it; neither leaves the stored map in place.
		stored                 []int
		usersFirst, usersAfter bool
		wantDays               int
		wantUnmapped           int64
	}{
		{"users staged first", nil, true, false, 1, 1},
		{"users staged after the evidence", nil, false, true, 1, 1},
		{"no users staged: stored map", []int{1}, false, false, 1, 1},
		{"no users staged, none stored", nil, false, false, 0, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProfile(t, s, fmt.Sprintf("resolve%d", i), 1)
			e := p.Environments[0].ID
			syncSubs(t, s, p, true, now, staged(1, skuSales))
			syncActivity(t, s, p, now, []sam.EnvironmentAudit{auditOK(e, time.Time{})}, tt.stored)

			r := startRun(t, s, p.ID, sam.RunActivity, false)
			users := []store.SystemUser{{SystemUserID: sysUser(1), AADObjectID: user(1)}, {SystemUserID: sysUser(2)}}
			if tt.usersFirst {
				must(t, s.StageSystemUsers(ctx(t), r, e, users))
			}
			at := now.Add(-2 * time.Hour)
			must(t, s.StageActivity(ctx(t), r, []store.StagedActivity{
				act(e, 1, at, sam.SourceAccessWeb, 2),
				act(e, 2, at, sam.SourceAccessWeb, 1), // no Entra object id
				act(e, 2, at, sam.SourceAccessWeb, 1), // the same key again: one unmapped row
			}))
			if tt.usersAfter {
				must(t, s.StageSystemUsers(ctx(t), r, e, users))
			}
			ch, err := s.CommitActivity(ctx(t), r, store.ActivityCommit{Now: now, Environments: []sam.EnvironmentAudit{auditOK(e, at)}})
			must(t, err)
			if ch.Days != tt.wantDays || ch.UnmappedRows != tt.wantUnmapped {
				t.Errorf("changes = %+v, want %d days and %d unmapped rows", ch, tt.wantDays, tt.wantUnmapped)
			}
			if tt.wantDays == 0 {
				return
			}
			days, err := s.ActivityDays(ctx(t), p.ID, user(1), at, at)
			must(t, err)
			if len(days) != 1 || days[0].Events != 2 || !days[0].LastAt.Equal(at) {
				t.Errorf("activity of user 1 = %+v, want one day with 2 events", days)
			}
			if x := openSubs(t, s, p.ID)[key(1, skuSales)]; x.LastActivity == nil || !x.LastActivity.Equal(at) {
				t.Errorf("last activity of user 1 = %v, want %v", x.LastActivity, at)
			}
		})
	}
}
