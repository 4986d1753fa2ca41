package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// normalizeProfile validates p and fills defaults, in place.
func normalizeProfile(p *sam.Profile) error {
	if p == nil {
		return sam.Errorf(sam.EINVALID, "profile is missing")
	}
	if !sam.ValidName(p.Name) {
		return sam.Errorf(sam.EINVALID, "invalid profile name %q: use 1 to 64 lower-case letters, digits, '-' or '_'", p.Name)
	}
	p.TenantID = sam.NormalizeGUID(p.TenantID)
	if p.TenantID == "" {
		return sam.Errorf(sam.EINVALID, "profile %q: tenant id is missing", p.Name)
	}
	if !sam.ValidGUID(p.TenantID) {
		return sam.Errorf(sam.EINVALID, "profile %q: tenant id %q is not a GUID", p.Name, p.TenantID)
	}
	p.ClientID = sam.NormalizeGUID(p.ClientID)
	if p.ClientID != "" && !sam.ValidGUID(p.ClientID) {
		return sam.Errorf(sam.EINVALID, "profile %q: client id %q is not a GUID", p.Name, p.ClientID)
	}
	if p.AuthMode == "" {
		p.AuthMode = sam.AuthClientSecret
	}
	switch p.AuthMode {
	case sam.AuthClientSecret, sam.AuthCertificate, sam.AuthDelegated:
	default:
		return sam.Errorf(sam.EINVALID, "profile %q: unknown authentication mode %q", p.Name, p.AuthMode)
	}
	if p.LoginURL == "" {
		p.LoginURL = sam.DefaultLoginURL
	}
	if p.GraphURL == "" {
		p.GraphURL = sam.DefaultGraphURL
	}
	if p.State == "" {
		p.State = sam.ProfileDraft
	}
	if !p.State.Valid() {
		return sam.Errorf(sam.EINVALID, "profile %q: unknown state %q", p.Name, p.State)
	}
	seen := map[string]bool{}
	for i := range p.Environments {
		e := &p.Environments[i]
		e.URL = strings.TrimRight(strings.TrimSpace(e.URL), "/")
		if e.URL == "" {
			return sam.Errorf(sam.EINVALID, "profile %q: environment %d has no URL", p.Name, i+1)
		}
		key := strings.ToLower(e.URL)
		if seen[key] {
			return sam.Errorf(sam.EINVALID, "profile %q: environment %s is listed twice", p.Name, e.URL)
		}
		seen[key] = true
	}
	return nil
}

// CreateProfile inserts p with its environments and sets their IDs and
// timestamps. ECONFLICT when the name is taken, EINVALID when the name is not
// sam.ValidName or the tenant id is missing or not a GUID.
func (s *Store) CreateProfile(ctx context.Context, p *sam.Profile) error {
	if err := normalizeProfile(p); err != nil {
		return err
	}
	now := timestamp(time.Now())
	return s.inTx(ctx, "create profile "+p.Name, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO profiles
			(name, display_name, tenant_id, client_id, auth_mode, login_url, graph_url, ca_file,
			 analyze_from, state, state_message, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id`,
			p.Name, p.DisplayName, p.TenantID, p.ClientID, string(p.AuthMode), p.LoginURL, p.GraphURL, p.CAFile,
			s.nullTS(p.AnalyzeFrom), string(p.State), p.StateMessage, s.ts(now)).Scan(&id)
		if err != nil {
			if s.d.Classify(err) == ErrUnique {
				return sam.Wrap(sam.ECONFLICT, err, "profile %q already exists", p.Name)
			}
			return err
		}
		envs, err := s.saveEnvironments(ctx, tx, id, p.Environments)
		if err != nil {
			return err
		}
		p.ID, p.CreatedAt, p.UpdatedAt, p.Environments = id, now, now, envs
		return nil
	})
}

// UpdateProfile replaces p's fields and its set of environments, matched by
// URL (case-insensitively, ignoring a trailing slash): an environment that
// stays keeps its ID, audit status and watermark; one that goes is deleted
// with its user map and activity. On return p.Environments holds the stored
// environments. ENOTFOUND when p.ID does not exist, ECONFLICT when the new
// name is taken, EINVALID as for CreateProfile.
func (s *Store) UpdateProfile(ctx context.Context, p *sam.Profile) error {
	if err := normalizeProfile(p); err != nil {
		return err
	}
	now := timestamp(time.Now())
	return s.inTx(ctx, "update profile "+p.Name, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE profiles SET name = $2, display_name = $3, tenant_id = $4,
			client_id = $5, auth_mode = $6, login_url = $7, graph_url = $8, ca_file = $9, analyze_from = $10,
			state = $11, state_message = $12, updated_at = $13 WHERE id = $1`,
			p.ID, p.Name, p.DisplayName, p.TenantID, p.ClientID, string(p.AuthMode), p.LoginURL, p.GraphURL,
			p.CAFile, s.nullTS(p.AnalyzeFrom), string(p.State), p.StateMessage, s.ts(now))
		if err != nil {
			if s.d.Classify(err) == ErrUnique {
				return sam.Wrap(sam.ECONFLICT, err, "profile %q already exists", p.Name)
			}
			return err
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return sam.Errorf(sam.ENOTFOUND, "profile %d not found", p.ID)
		}
		envs, err := s.saveEnvironments(ctx, tx, p.ID, p.Environments)
		if err != nil {
			return err
		}
		var created nullTime
		if err := tx.QueryRowContext(ctx, `SELECT created_at FROM profiles WHERE id = $1`, p.ID).Scan(&created); err != nil {
			return err
		}
		p.CreatedAt, p.UpdatedAt, p.Environments = created.Time, now, envs
		return nil
	})
}

// saveEnvironments makes the profile's environments exactly want (matched
// by URL) and returns them as stored, in want's order.
func (s *Store) saveEnvironments(ctx context.Context, tx *sql.Tx, profileID int64, want []sam.Environment) ([]sam.Environment, error) {
	existing, err := s.environments(ctx, tx, profileID)
	if err != nil {
		return nil, err
	}
	byURL := map[string]sam.Environment{}
	for _, e := range existing {
		byURL[strings.ToLower(e.URL)] = e
	}
	keep := map[int64]bool{}
	out := make([]sam.Environment, 0, len(want))
	for i, w := range want {
		if e, ok := byURL[strings.ToLower(w.URL)]; ok {
			if _, err := tx.ExecContext(ctx, `UPDATE environments SET url = $2, name = $3, position = $4 WHERE id = $1`,
				e.ID, w.URL, w.Name, i); err != nil {
				return nil, err
			}
			keep[e.ID] = true
			e.URL, e.Name = w.URL, w.Name
			out = append(out, e)
			continue
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO environments (profile_id, url, name, position)
			VALUES ($1, $2, $3, $4) RETURNING id`, profileID, w.URL, w.Name, i).Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, sam.Environment{ID: id, ProfileID: profileID, URL: w.URL, Name: w.Name,
			Audit: sam.EnvironmentAudit{EnvironmentID: id}})
	}
	for _, e := range existing {
		if keep[e.ID] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM activity_days WHERE profile_id = $1 AND environment_id = $2`, profileID, e.ID); err != nil {
			return nil, err
		}
		// No foreign key on PostgreSQL (migration 0056): the users go here.
		if _, err := tx.ExecContext(ctx, `DELETE FROM environment_users WHERE environment_id = $1`, e.ID); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM environments WHERE id = $1`, e.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const environmentColumns = `id, profile_id, url, name, reachable, audit_error, audit_enabled,
	user_access_audit_enabled, retention_days, watermark, checked_at`

func scanEnvironment(sc interface{ Scan(...any) error }) (sam.Environment, error) {
	var e sam.Environment
	var wm, checked nullTime
	err := sc.Scan(&e.ID, &e.ProfileID, &e.URL, &e.Name, &e.Audit.Reachable, &e.Audit.Error, &e.Audit.AuditEnabled,
		&e.Audit.UserAccessAuditEnabled, &e.Audit.RetentionDays, &wm, &checked)
	e.Audit.EnvironmentID = e.ID
	e.Audit.Watermark, e.Audit.CheckedAt = wm.Time, checked.Time
	return e, err
}

// environments returns a profile's environments in their stored order.
func (s *Store) environments(ctx context.Context, q querier, profileID int64) ([]sam.Environment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+environmentColumns+` FROM environments WHERE profile_id = $1 ORDER BY position, id`, profileID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sam.Environment
	for rows.Next() {
		e, err := scanEnvironment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetProfileState records the profile's connection state and why.
// EINVALID for an unknown state, ENOTFOUND when the profile does not exist.
func (s *Store) SetProfileState(ctx context.Context, profileID int64, state sam.ProfileState, message string) error {
	if !state.Valid() {
		return sam.Errorf(sam.EINVALID, "unknown profile state %q", state)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE profiles SET state = $2, state_message = $3, updated_at = $4 WHERE id = $1`,
		profileID, string(state), message, s.ts(time.Now()))
	if err != nil {
		return s.fail(err, "set state of profile %d", profileID)
	}
	if n, err := affected(res); err != nil {
		return s.fail(err, "set state of profile %d", profileID)
	} else if n == 0 {
		return sam.Errorf(sam.ENOTFOUND, "profile %d not found", profileID)
	}
	return nil
}

const profileColumns = `id, name, display_name, tenant_id, client_id, auth_mode, login_url, graph_url, ca_file,
	analyze_from, state, state_message, created_at, updated_at`

func scanProfile(sc interface{ Scan(...any) error }) (*sam.Profile, error) {
	p := &sam.Profile{}
	var auth, state string
	var from, created, updated nullTime
	if err := sc.Scan(&p.ID, &p.Name, &p.DisplayName, &p.TenantID, &p.ClientID, &auth, &p.LoginURL, &p.GraphURL,
		&p.CAFile, &from, &state, &p.StateMessage, &created, &updated); err != nil {
		return nil, err
	}
	p.AuthMode, p.State = sam.AuthMode(auth), sam.ProfileState(state)
	p.AnalyzeFrom, p.CreatedAt, p.UpdatedAt = from.Time, created.Time, updated.Time
	return p, nil
}

func (s *Store) profileWhere(ctx context.Context, q querier, what, where string, arg any) (*sam.Profile, error) {
	p, err := scanProfile(q.QueryRowContext(ctx, `SELECT `+profileColumns+` FROM profiles WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sam.Errorf(sam.ENOTFOUND, "profile %s not found", what)
	}
	if err != nil {
		return nil, s.fail(err, "read profile %s", what)
	}
	if p.Environments, err = s.environments(ctx, q, p.ID); err != nil {
		return nil, s.fail(err, "read environments of profile %s", what)
	}
	return p, nil
}

// Profile returns a profile with its environments; ENOTFOUND when absent.
func (s *Store) Profile(ctx context.Context, id int64) (*sam.Profile, error) {
	return s.profileWhere(ctx, s.db, itoa(id), `id = $1`, id)
}

// ProfileByName returns a profile by its unique name; ENOTFOUND when absent.
func (s *Store) ProfileByName(ctx context.Context, name string) (*sam.Profile, error) {
	return s.profileWhere(ctx, s.reader(), `"`+name+`"`, `name = $1`, name)
}

// Profiles returns every profile, with its environments, ordered by name.
func (s *Store) Profiles(ctx context.Context) ([]*sam.Profile, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+profileColumns+` FROM profiles ORDER BY name`)
	if err != nil {
		return nil, s.fail(err, "list profiles")
	}
	var out []*sam.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			rows.Close()
			return nil, s.fail(err, "list profiles")
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list profiles")
	}
	for _, p := range out {
		if p.Environments, err = s.environments(ctx, s.reader(), p.ID); err != nil {
			return nil, s.fail(err, "read environments of profile %s", p.Name)
		}
	}
	return out, nil
}

// DeleteProfile removes a profile, its environments, secrets, sync state,
// subscriptions, activity and unit counts. Runs are kept for audit; runs of
// the profile still running are marked failed and their staging is removed.
// ENOTFOUND when absent.
func (s *Store) DeleteProfile(ctx context.Context, id int64) error {
	now := time.Now()
	err := s.inTx(ctx, "delete profile "+itoa(id), func(tx *sql.Tx) error {
		// Runs first, then staging, then the profile: the order in which
		// commits lock them, so that the two never deadlock.
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = $2, error = $3, finished_at = $4, checkpoint = NULL
			WHERE profile_id = $1 AND status = $5`, id, string(sam.RunFailed), "profile deleted", s.ts(now), string(sam.RunRunning)); err != nil {
			return err
		}
		for _, t := range stagingTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE run_id IN (SELECT id FROM runs WHERE profile_id = $1)`, id); err != nil {
				return err
			}
		}
		// The environments' ids before the cascade removes them: their
		// Dataverse users go after the profile (below).
		envs, err := s.environments(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return sam.Errorf(sam.ENOTFOUND, "profile %d not found", id)
		}
		// Activity days, subscriptions and Dataverse users have no foreign
		// key on PostgreSQL (migrations 0054, 0056): deleted here, after
		// the profile, whose row lock waited for any commit still writing
		// them.
		if _, err := tx.ExecContext(ctx, `DELETE FROM activity_days WHERE profile_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE profile_id = $1`, id); err != nil {
			return err
		}
		for _, e := range envs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM environment_users WHERE environment_id = $1`, e.ID); err != nil {
				return err
			}
		}
		return s.closeProfileCandidates(ctx, tx, id, now)
	})
	if err == nil {
		s.dropProfileSummaries(id)
	}
	return err
}

// requireProfile fails with ENOTFOUND unless the profile exists; with
// lock, the profile row stays locked until the transaction ends (PostgreSQL).
func (s *Store) requireProfile(ctx context.Context, q querier, id int64, lock bool) error {
	query := `SELECT id FROM profiles WHERE id = $1`
	if lock {
		query += s.d.ForUpdate
	}
	var got int64
	err := q.QueryRowContext(ctx, query, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return sam.Errorf(sam.ENOTFOUND, "profile %d not found", id)
	}
	return err
}
