package connect

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestTokenPermissions(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name      string
		token     string
		delegated bool
		want      []string
		ok        bool
	}{
		{"app roles", "h." + enc(`{"roles":["User.Read.All","LicenseAssignment.Read.All"]}`) + ".s", false, []string{"User.Read.All", "LicenseAssignment.Read.All"}, true},
		{"no roles", "h." + enc(`{"aud":"x"}`) + ".s", false, nil, true},
		{"delegated scp", "h." + enc(`{"scp":"User.Read.All  AuditLog.Read.All"}`) + ".s", true, []string{"User.Read.All", "AuditLog.Read.All"}, true},
		{"padded payload", "h." + base64.URLEncoding.EncodeToString([]byte(`{"roles":["a"]}`)) + ".s", false, []string{"a"}, true},
		{"opaque token", "EwB4A8l6BAAU", false, nil, false},
		{"not JSON", "h." + enc("roles") + ".s", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tokenPermissions(tt.token, tt.delegated)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("tokenPermissions = %v %v, want %v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzTokenPermissions(f *testing.F) {
	f.Add("h."+base64.RawURLEncoding.EncodeToString([]byte(`{"roles":["x"],"scp":"a b"}`))+".s", true)
	f.Add("a.b.c", false)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, token string, delegated bool) {
		perms, ok := tokenPermissions(token, delegated)
		if !ok && perms != nil {
			t.Errorf("unreadable token gave permissions %v", perms)
		}
	})
}
