package tenant

import (
	"encoding/base64"
	"encoding/binary"
)

// UsersPage returns up to limit users in the tenant's stable order, starting
// after cursor ("" starts a new listing), those for which match returns true
// (nil matches all). next is "" on the last page; a page with a next
// cursor is full and at least one more matching user follows. A listing is a snapshot
// of membership taken at its first page: users added later do not appear,
// users deleted since are skipped, attributes are current. Errors:
// ErrInvalid for a malformed cursor or limit < 1.
func (t *Tenant) UsersPage(cursor string, limit int, match func(*User) bool) (users []User, next string, err error) {
	if limit < 1 {
		return nil, "", errorf(ErrInvalid, "page size %d must be at least 1", limit)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	snap, pos := t.seq, 0
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) != 13 || b[0] != 'u' {
			return nil, "", errorf(ErrInvalid, "malformed user listing cursor %q", cursor)
		}
		snap, pos = binary.BigEndian.Uint64(b[1:9]), int(binary.BigEndian.Uint32(b[9:13]))
	}
	users = []User{}
	for ; pos < len(t.users); pos++ {
		u := t.users[pos]
		if u.deleted != 0 || u.createdSeq > snap {
			continue
		}
		v := t.render(u)
		if match != nil && !match(&v) {
			continue
		}
		if len(users) == limit {
			// another matching user follows: the next page starts with it
			var b [13]byte
			b[0] = 'u'
			binary.BigEndian.PutUint64(b[1:9], snap)
			binary.BigEndian.PutUint32(b[9:13], uint32(pos))
			return users, base64.RawURLEncoding.EncodeToString(b[:]), nil
		}
		users = append(users, v)
	}
	return users, "", nil
}

// Seq returns the latest change sequence number.
func (t *Tenant) Seq() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.seq
}

// ChangesSince returns the users changed after seq (one entry per user,
// carrying its latest change, in the tenant's user order) and the latest
// sequence number, to be passed to the next call. seq 0 is a first delta
// round: every current user, no removals; sequence numbers start at 1. Removed users appear with Removed
// set ("changed": soft-deleted, "deleted": permanently deleted). A seq
// beyond the latest returns no change.
func (t *Tenant) ChangesSince(seq uint64) ([]UserChange, uint64) {
	if seq > 0 {
		return t.ChangesAfter(seq)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := []UserChange{}
	for _, u := range t.users {
		if u.deleted == 0 {
			out = append(out, UserChange{UserID: u.id, Seq: u.changed})
		}
	}
	return out, t.seq
}

// ChangesAfter returns the users whose latest change has a sequence number
// greater than seq (removed users with Removed set), in the tenant's user
// order, and the latest sequence number. Unlike ChangesSince, seq 0 is not a
// first round: ChangesAfter(0) returns every user changed since generation,
// removals included, and nothing on an untouched tenant.
func (t *Tenant) ChangesAfter(seq uint64) ([]UserChange, uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := []UserChange{}
	for _, u := range t.users {
		if u.changed <= seq {
			continue
		}
		c := UserChange{UserID: u.id, Seq: u.changed}
		switch u.deleted {
		case delSoft:
			c.Removed = "changed"
		case delHard:
			c.Removed = "deleted"
		}
		out = append(out, c)
	}
	return out, t.seq
}

// renderSys is the systemuser of a user. The caller holds t.mu.
func (t *Tenant) renderSys(e *envRec, u *userRec) SystemUser {
	s := SystemUser{
		SystemUserID: e.sysID(u).String(), AzureActiveDirectoryObjectID: u.id, DomainName: u.upn, FullName: u.display,
		IsDisabled: !u.enabled || u.deleted != 0, EntraUserID: u.id,
	}
	if u.role == roleAdmin {
		s.CALType = 1
	}
	return s
}

// SystemUsersPage pages an environment's systemusers: first the
// application, SYSTEM, support and delegated-admin users, then one per
// Entra user with access to the environment, in the tenant's user order;
// match and the cursor work as in UsersPage. Errors: ErrNotFound
// (environment), ErrInvalid (cursor, limit).
func (t *Tenant) SystemUsersPage(env int, cursor string, limit int, match func(*SystemUser) bool) (rows []SystemUser, next string, err error) {
	if limit < 1 {
		return nil, "", errorf(ErrInvalid, "page size %d must be at least 1", limit)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.env(env)
	if err != nil {
		return nil, "", err
	}
	pos := 0
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) != 5 || b[0] != 's' {
			return nil, "", errorf(ErrInvalid, "malformed systemuser listing cursor %q", cursor)
		}
		pos = int(binary.BigEndian.Uint32(b[1:]))
	}
	rows = []SystemUser{}
	ns := len(e.specials)
	bit := uint64(1) << uint(env)
	for ; pos < ns+len(t.users); pos++ {
		var s SystemUser
		if pos < ns {
			s = e.specials[pos].SystemUser
		} else {
			u := t.users[pos-ns]
			if u.envMask&bit == 0 {
				continue
			}
			s = t.renderSys(e, u)
		}
		if match != nil && !match(&s) {
			continue
		}
		if len(rows) == limit {
			var b [5]byte
			b[0] = 's'
			binary.BigEndian.PutUint32(b[1:], uint32(pos))
			return rows, base64.RawURLEncoding.EncodeToString(b[:]), nil
		}
		rows = append(rows, s)
	}
	return rows, "", nil
}

// SystemUser returns one systemuser by systemuserid; ErrNotFound if absent,
// ErrInvalid if the id is not a GUID.
func (t *Tenant) SystemUser(env int, systemUserID string) (SystemUser, error) {
	g, ok := parseGUID(systemUserID)
	if !ok {
		return SystemUser{}, errorf(ErrInvalid, "systemuserid %q is not a GUID", systemUserID)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.env(env)
	if err != nil {
		return SystemUser{}, err
	}
	w, ok := t.who(e, g)
	if !ok {
		return SystemUser{}, errorf(ErrNotFound, "systemuser With Id = %s Does Not Exist", systemUserID)
	}
	if w < 0 {
		return e.specials[-w-1].SystemUser, nil
	}
	return t.renderSys(e, t.users[w]), nil
}

// SystemUserOf returns the systemuser of an Entra user (also a deleted one)
// in an environment; ErrNotFound if the user has none there.
func (t *Tenant) SystemUserOf(env int, entraUserID string) (SystemUser, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, err := t.env(env)
	if err != nil {
		return SystemUser{}, err
	}
	i, ok := t.userByID[normalizeID(entraUserID)]
	if !ok || t.users[i].envMask&(1<<uint(env)) == 0 {
		return SystemUser{}, errorf(ErrNotFound, "user %s has no systemuser in environment %s", entraUserID, e.Name)
	}
	return t.renderSys(e, t.users[i]), nil
}
