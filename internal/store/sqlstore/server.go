package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

var _ store.ServerStore = (*Store)(nil)

const userColumns = `id, name, role, password_hash, must_change_password, disabled, failed_logins, locked_until,
	last_login, created_at, updated_at`

func scanUser(sc interface{ Scan(...any) error }) (*store.User, error) {
	u := &store.User{}
	var locked, last, created, updated nullTime
	if err := sc.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &u.MustChangePassword, &u.Disabled, &u.FailedLogins,
		&locked, &last, &created, &updated); err != nil {
		return nil, err
	}
	u.LockedUntil, u.LastLogin, u.CreatedAt, u.UpdatedAt = locked.Time, last.Time, created.Time, updated.Time
	return u, nil
}

// CreateUser inserts u and sets its ID and timestamps.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u == nil || strings.TrimSpace(u.Name) == "" || u.Role == "" || u.PasswordHash == "" {
		return sam.Errorf(sam.EINVALID, "create user: name, role and password are required")
	}
	now := timestamp(time.Now())
	u.CreatedAt, u.UpdatedAt = now, now
	err := s.db.QueryRowContext(ctx, `INSERT INTO users (name, role, password_hash, must_change_password, disabled,
		failed_logins, locked_until, last_login, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		u.Name, u.Role, u.PasswordHash, u.MustChangePassword, u.Disabled, u.FailedLogins, s.nullTS(u.LockedUntil),
		s.nullTS(u.LastLogin), s.ts(now), s.ts(now)).Scan(&u.ID)
	if err != nil {
		if s.d.Classify(err) == ErrUnique {
			return sam.Errorf(sam.ECONFLICT, "user %q already exists", u.Name)
		}
		return s.fail(err, "create user %q", u.Name)
	}
	return nil
}

// UpdateUser stores u's mutable fields.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	if u == nil || u.Role == "" || u.PasswordHash == "" {
		return sam.Errorf(sam.EINVALID, "update user: role and password are required")
	}
	now := timestamp(time.Now())
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role = $1, password_hash = $2, must_change_password = $3,
		disabled = $4, failed_logins = $5, locked_until = $6, last_login = $7, updated_at = $8 WHERE id = $9`,
		u.Role, u.PasswordHash, u.MustChangePassword, u.Disabled, u.FailedLogins, s.nullTS(u.LockedUntil),
		s.nullTS(u.LastLogin), s.ts(now), u.ID)
	if err != nil {
		return s.fail(err, "update user %d", u.ID)
	}
	if n, err := affected(res); err != nil {
		return s.fail(err, "update user %d", u.ID)
	} else if n == 0 {
		return sam.Errorf(sam.ENOTFOUND, "user %d not found", u.ID)
	}
	u.UpdatedAt = now
	return nil
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(s.reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "user %d not found", id)
	}
	return u, s.fail(err, "read user %d", id)
}

// UserByName returns a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (*store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "user %q not found", name)
	}
	return u, s.fail(err, "read user %q", name)
}

// Users returns every user ordered by name.
func (s *Store) Users(ctx context.Context) ([]*store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, s.fail(err, "list users")
	}
	defer rows.Close()
	var out []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.fail(err, "list users")
		}
		out = append(out, u)
	}
	return out, s.fail(rows.Err(), "list users")
}

// RecordLoginFailure counts a failed sign-in and locks the account after
// maxFailures of them.
func (s *Store) RecordLoginFailure(ctx context.Context, userID int64, at time.Time, maxFailures int, lockFor time.Duration) (*store.User, error) {
	var u *store.User
	err := s.inTx(ctx, "record failed sign-in", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1`, userID); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return sam.Errorf(sam.ENOTFOUND, "user %d not found", userID)
		}
		if err != nil {
			return err
		}
		if maxFailures > 0 && u.FailedLogins >= maxFailures {
			u.FailedLogins, u.LockedUntil = 0, timestamp(at.Add(lockFor))
			_, err = tx.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2`, s.ts(u.LockedUntil), userID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateSession inserts a session.
func (s *Store) CreateSession(ctx context.Context, x *store.Session) error {
	if x == nil || x.IDHash == "" || x.CSRFToken == "" {
		return sam.Errorf(sam.EINVALID, "create session: id and CSRF token are required")
	}
	if x.CreatedAt.IsZero() {
		x.CreatedAt = time.Now()
	}
	x.CreatedAt, x.ExpiresAt = timestamp(x.CreatedAt), timestamp(x.ExpiresAt)
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, x.IDHash, x.UserID, x.CSRFToken, s.ts(x.CreatedAt), s.ts(x.ExpiresAt))
	return s.fail(err, "create session of user %d", x.UserID)
}

// Session returns a session by id hash.
func (s *Store) Session(ctx context.Context, idHash string) (*store.Session, error) {
	x := &store.Session{}
	var created, expires nullTime
	err := s.reader().QueryRowContext(ctx, `SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE id_hash = $1`,
		idHash).Scan(&x.IDHash, &x.UserID, &x.CSRFToken, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "session not found")
	}
	if err != nil {
		return nil, s.fail(err, "read session")
	}
	x.CreatedAt, x.ExpiresAt = created.Time, expires.Time
	return x, nil
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return s.fail(err, "delete session")
}

// DeleteUserSessions removes every session of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, s.fail(err, "delete sessions of user %d", userID)
	}
	n, err := affected(res)
	return int(n), s.fail(err, "delete sessions of user %d", userID)
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1`, s.ts(now))
	if err != nil {
		return 0, s.fail(err, "delete expired sessions")
	}
	n, err := affected(res)
	return int(n), s.fail(err, "delete expired sessions")
}

const tokenColumns = `id, name, token_hash, prefix, role, created_by, created_at, expires_at, last_used`

func scanToken(sc interface{ Scan(...any) error }) (*store.APIToken, error) {
	t := &store.APIToken{}
	var by sql.NullInt64
	var created, expires, used nullTime
	if err := sc.Scan(&t.ID, &t.Name, &t.Hash, &t.Prefix, &t.Role, &by, &created, &expires, &used); err != nil {
		return nil, err
	}
	t.CreatedBy, t.CreatedAt, t.ExpiresAt, t.LastUsed = by.Int64, created.Time, expires.Time, used.Time
	return t, nil
}

// CreateAPIToken inserts a token.
func (s *Store) CreateAPIToken(ctx context.Context, t *store.APIToken) error {
	if t == nil || t.Hash == "" || t.Role == "" || t.ExpiresAt.IsZero() {
		return sam.Errorf(sam.EINVALID, "create API token: hash, role and expiry are required")
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	t.CreatedAt, t.ExpiresAt = timestamp(t.CreatedAt), timestamp(t.ExpiresAt)
	var by any
	if t.CreatedBy != 0 {
		by = t.CreatedBy
	}
	err := s.db.QueryRowContext(ctx, `INSERT INTO api_tokens (name, token_hash, prefix, role, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, t.Name, t.Hash, t.Prefix, t.Role, by, s.ts(t.CreatedAt),
		s.ts(t.ExpiresAt)).Scan(&t.ID)
	return s.fail(err, "create API token %q", t.Name)
}

// APITokenByHash returns a token by the hash of its secret.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (*store.APIToken, error) {
	t, err := scanToken(s.reader().QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "API token not found")
	}
	return t, s.fail(err, "read API token")
}

// APITokens returns every token, newest first.
func (s *Store) APITokens(ctx context.Context) ([]*store.APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, s.fail(err, "list API tokens")
	}
	defer rows.Close()
	var out []*store.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail(err, "list API tokens")
		}
		out = append(out, t)
	}
	return out, s.fail(rows.Err(), "list API tokens")
}

// DeleteAPIToken revokes a token.
func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	if err != nil {
		return s.fail(err, "delete API token %d", id)
	}
	if n, err := affected(res); err != nil {
		return s.fail(err, "delete API token %d", id)
	} else if n == 0 {
		return sam.Errorf(sam.ENOTFOUND, "API token %d not found", id)
	}
	return nil
}

// TouchAPIToken records when a token was last used.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = $1 WHERE id = $2`, s.ts(at), id)
	return s.fail(err, "record use of API token %d", id)
}

// AppendAudit adds an entry to the audit log.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if e == nil || e.Actor == "" || e.Action == "" {
		return sam.Errorf(sam.EINVALID, "audit entry: actor and action are required")
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = timestamp(e.At)
	err := s.db.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, action, target, status, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, s.ts(e.At), e.Actor, e.Action, e.Target, e.Status, e.Detail).Scan(&e.ID)
	return s.fail(err, "append audit entry")
}

// AuditEntries returns entries newest first.
func (s *Store) AuditEntries(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var a args
	q := `SELECT id, at, actor, action, target, status, detail FROM audit_log`
	if f.BeforeID > 0 {
		q += ` WHERE id < ` + a.add(f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY id DESC LIMIT ` + a.add(limit)
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, s.fail(err, "read audit log")
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		e := &store.AuditEntry{}
		var at nullTime
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Status, &e.Detail); err != nil {
			return nil, s.fail(err, "read audit log")
		}
		e.At = at.Time
		out = append(out, e)
	}
	return out, s.fail(rows.Err(), "read audit log")
}

// noActivity stands for a subscription without activity when sorting by
// last activity: older than any real evidence.
var noActivity = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// noActivityOrder is the sort expression of "last_activity" per dialect:
// written with a literal (not a parameter) so that it matches the
// expression index subscriptions_last_activity (migration 0050).
var noActivityOrder = map[string]string{
	"sqlite":   "COALESCE(last_activity, '0001-01-01T00:00:00.000000Z')",
	"postgres": "COALESCE(last_activity, '0001-01-01 00:00:00+00'::timestamptz)",
}

// SearchSubscriptions returns one page of subscriptions matching q.
func (s *Store) SearchSubscriptions(ctx context.Context, q store.SubscriptionQuery) ([]*sam.Subscription, error) {
	var a args
	where := []string{"1 = 1"}
	if q.ProfileID != 0 {
		where = append(where, "profile_id = "+a.add(q.ProfileID))
	}
	if q.SKUID != "" {
		where = append(where, "sku_id = "+a.add(sam.NormalizeGUID(q.SKUID)))
	}
	if q.UsageClass != "" {
		// Sorted by another key, SQLite would read every subscription of
		// the class through its index and sort them all for one page;
		// "+usage_class" keeps that index out, so the page is read in the
		// sort key's index order, filtering as it goes.
		col := "usage_class"
		if s.d.Name == "sqlite" && q.Sort != "" && q.Sort != "id" && q.Sort != "usage_class" {
			col = "+usage_class"
		}
		where = append(where, col+" = "+a.add(string(q.UsageClass)))
	}
	if q.OpenOnly {
		where = append(where, "closed_at IS NULL")
	}
	if q.Search != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.Search))
		p := "%" + esc + "%"
		where = append(where, "(lower(upn) LIKE "+a.add(p)+` ESCAPE '\' OR lower(display_name) LIKE `+a.add(p)+
			` ESCAPE '\' OR lower(department) LIKE `+a.add(p)+` ESCAPE '\')`)
	}
	sortKey := q.Sort
	if sortKey == "" {
		sortKey = "id"
	}
	known := false
	for _, k := range store.SubscriptionSortKeys {
		known = known || k == sortKey
	}
	if !known {
		return nil, sam.Errorf(sam.EINVALID, "unknown sort key %q (known: %s)", sortKey, strings.Join(store.SubscriptionSortKeys, ", "))
	}
	col := func() string {
		if sortKey == "last_activity" {
			return noActivityOrder[s.d.Name]
		}
		return sortKey
	}
	cmp, dir := ">", "ASC"
	if q.Desc {
		cmp, dir = "<", "DESC"
	}
	if q.AfterID != 0 {
		if sortKey == "id" {
			where = append(where, "id "+cmp+" "+a.add(q.AfterID))
		} else {
			var v any = q.AfterValue
			if sortKey == "last_activity" {
				t := noActivity
				if q.AfterValue != "" {
					var err error
					if t, err = time.Parse(time.RFC3339Nano, q.AfterValue); err != nil {
						return nil, sam.Errorf(sam.EINVALID, "cursor: last activity %q is not an RFC 3339 time", q.AfterValue)
					}
				}
				v = s.ts(t)
			}
			where = append(where, "("+col()+" "+cmp+" "+a.add(v)+" OR ("+col()+" = "+a.add(v)+" AND id "+cmp+" "+a.add(q.AfterID)+"))")
		}
	}
	order := "id " + dir
	if sortKey != "id" {
		order = col() + " " + dir + ", id " + dir
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + subscriptionColumns + ` FROM subscriptions WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + order + ` LIMIT ` + a.add(limit)
	rows, err := s.reader().QueryContext(ctx, query, a...)
	if err != nil {
		return nil, s.fail(err, "search subscriptions")
	}
	defer rows.Close()
	var out []*sam.Subscription
	for rows.Next() {
		x, err := scanSubscription(rows)
		if err != nil {
			return nil, s.fail(err, "search subscriptions")
		}
		out = append(out, x)
	}
	return out, s.fail(rows.Err(), "search subscriptions")
}

// UsageCounts counts subscriptions by profile, SKU and usage class.
func (s *Store) UsageCounts(ctx context.Context, profileID int64, openOnly bool) ([]store.UsageCount, error) {
	var a args
	where := []string{"1 = 1"}
	if profileID != 0 {
		where = append(where, "profile_id = "+a.add(profileID))
	}
	if openOnly {
		where = append(where, "closed_at IS NULL")
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT profile_id, sku_id, usage_class, count(*) FROM subscriptions WHERE `+
		strings.Join(where, " AND ")+` GROUP BY profile_id, sku_id, usage_class ORDER BY profile_id, sku_id, usage_class`, a...)
	if err != nil {
		return nil, s.fail(err, "count subscriptions")
	}
	defer rows.Close()
	var out []store.UsageCount
	for rows.Next() {
		var c store.UsageCount
		var class string
		if err := rows.Scan(&c.ProfileID, &c.SKUID, &class, &c.Count); err != nil {
			return nil, s.fail(err, "count subscriptions")
		}
		c.UsageClass = sam.UsageClass(class)
		out = append(out, c)
	}
	return out, s.fail(rows.Err(), "count subscriptions")
}
