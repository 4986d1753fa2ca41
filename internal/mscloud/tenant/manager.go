package tenant

// SetManager makes managerID the manager of userID (Graph's manager
// relationship, read with GET /users/{id}/manager); an empty managerID
// removes it. Errors: ErrNotFound (either user), ErrConflict (a user cannot
// manage themselves).
func (t *Tenant) SetManager(userID, managerID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return err
	}
	if managerID == "" {
		delete(t.managers, u.ord)
		return nil
	}
	m, err := t.lookupUser(managerID)
	if err != nil {
		return err
	}
	if m == u {
		return errorf(ErrConflict, "A user cannot be their own manager.")
	}
	if t.managers == nil {
		t.managers = map[int32]int32{}
	}
	t.managers[u.ord] = m.ord
	return nil
}

// Manager returns a user's manager. Errors: ErrNotFound (no such user, or
// no manager set).
func (t *Tenant) Manager(userID string) (User, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u, err := t.lookupUser(userID)
	if err != nil {
		return User{}, err
	}
	m, ok := t.managers[u.ord]
	if !ok || int(m) >= len(t.users) || t.users[m].deleted != 0 {
		return User{}, notFoundResource("manager")
	}
	return t.render(t.users[m]), nil
}
