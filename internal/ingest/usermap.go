package ingest

import (
	"encoding/hex"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// guid is a GUID's 16 bytes: half the size of its text, and no pointer
// for the garbage collector to follow.
type guid [16]byte

// parseGUID reads a GUID in 8-4-4-4-12 hex form (either case).
func parseGUID(s string) (guid, bool) {
	var g guid
	if !sam.ValidGUID(s) {
		return g, false
	}
	var buf [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			buf[n] = s[i]
			n++
		}
	}
	if _, err := hex.Decode(g[:], buf[:]); err != nil {
		return g, false
	}
	return g, true
}

// String returns g in lower-case 8-4-4-4-12 form, as sam.NormalizeGUID
// writes GUIDs.
func (g guid) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

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
	ids    map[guid]guid // zero value: the user has no Entra object id
	usable bool
}

// newSystemUserMap starts the map of a listing read from its first page;
// a nil map (a listing resumed mid-way) is never usable.
func newSystemUserMap() *systemUserMap {
	return &systemUserMap{ids: map[guid]guid{}, usable: true}
}

// add records a page of users as they are staged (a user listed twice
// keeps the last version, as staging does).
func (m *systemUserMap) add(users []store.SystemUser) {
	if m == nil || !m.usable {
		return
	}
	for _, u := range users {
		id, ok := parseGUID(u.SystemUserID)
		if !ok {
			m.unusable()
			return
		}
		var aad guid
		if u.AADObjectID != "" {
			if aad, ok = parseGUID(u.AADObjectID); !ok || aad == (guid{}) {
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
	names := map[guid]string{}
	for i := range rows {
		id, ok := parseGUID(rows[i].SystemUserID)
		rows[i].Resolved = true
		if !ok {
			continue // unknown to the store too: unmapped
		}
		aad, ok := m.ids[id]
		if !ok || aad == (guid{}) {
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
