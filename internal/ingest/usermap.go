package ingest

import (
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// systemUserMap is the Dataverse users of one environment that an
// activity run read and staged in this invocation, from the listing's
// first page to its last: systemuserid to Entra object id. With it the
// run stages its evidence already resolved (store.StagedActivity.Resolved)
// instead of having the database look up every Dataverse user of every
// batch. It mirrors the store's lookup exactly or not at all: a map that
// could differ (a listing resumed mid-way, no users at all, which makes
// the store fall back to the environment's stored users, or an id that is
// not a GUID) is not usable, and the store resolves.
type systemUserMap struct {
	ids    map[sam.GUID]sam.GUID // zero value: the user has no Entra object id
	usable bool
}

// newSystemUserMap starts the map of a listing read from its first page;
// a nil map (a listing resumed mid-way) is never usable.
func newSystemUserMap() *systemUserMap {
	return &systemUserMap{ids: map[sam.GUID]sam.GUID{}, usable: true}
}

// add records a page of users as they are staged (a user listed twice
// keeps the last version, as staging does).
func (m *systemUserMap) add(users []store.SystemUser) {
	if m == nil || !m.usable {
		return
	}
	for _, u := range users {
		id, ok := sam.ParseGUID(u.SystemUserID)
		if !ok {
			m.unusable()
			return
		}
		var aad sam.GUID
		if u.AADObjectID != "" {
			if aad, ok = sam.ParseGUID(u.AADObjectID); !ok || aad == (sam.GUID{}) {
				m.unusable()
				return
			}
		}
		m.ids[id] = aad
	}
}

func (m *systemUserMap) unusable() { m.usable, m.ids = false, nil }

// ready reports whether evidence can be resolved through m.
func (m *systemUserMap) ready() bool { return m != nil && m.usable && len(m.ids) > 0 }

// resolve marks rows resolved with their Entra users when m is ready, and
// leaves them to the store otherwise.
func (m *systemUserMap) resolve(rows []store.StagedActivity) {
	if !m.ready() {
		return
	}
	// Each Entra user's text once per batch: a user has many rows.
	names := map[sam.GUID]string{}
	for i := range rows {
		id, ok := sam.ParseGUID(rows[i].SystemUserID)
		rows[i].Resolved = true
		if !ok {
			continue // unknown to the store too: unmapped
		}
		aad, ok := m.ids[id]
		if !ok || aad == (sam.GUID{}) {
			continue
		}
		name, ok := names[aad]
		if !ok {
			name = aad.String()
			names[aad] = name
		}
		rows[i].UserID = name
	}
}
