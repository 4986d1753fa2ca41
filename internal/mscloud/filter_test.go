package mscloud

import (
	"strings"
	"testing"
	"time"
)

func TestParseFilterAndEval(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := mapRow{"createdon": t0.Add(36 * time.Hour), "action": float64(64), "operation": float64(4),
		"objecttypecode": "contact", "_userid_value": "4026be43-6b69-e111-8f65-78e7d1620f5e", "name": "O'Brien", "flag": true, "missing": nil}
	tests := []struct {
		filter string
		want   bool
	}{
		{"action eq 64", true},
		{"action eq 65", false},
		{"action ne 65", true},
		{"(action eq 64 or action eq 65) and createdon ge 2025-01-01T00:00:00Z", true},
		{"action in (64,65) and createdon lt 2025-01-02T00:00:00Z", false},
		{"createdon gt 2025-01-02T11:59:59.9999999Z and createdon le 2025-01-02T12:00:00Z", true},
		{"createdon ge 2025-01-02", true},
		{"createdon ge 2025-01-03", false},
		{"operation eq 4 and not (objecttypecode eq 'account')", true},
		{"_userid_value eq 4026BE43-6B69-E111-8F65-78E7D1620F5E", true},
		{"_userid_value eq '4026be43-6b69-e111-8f65-78e7d1620f5e'", true},
		{"name eq 'O''Brien'", true},
		{"startswith(name,'o''b')", true},
		{"contains(name,'brie') and endswith(name,'n')", true},
		{"flag eq true", true},
		{"missing eq null", true},
		{"missing ne null", false},
		{"missing gt 3", false},
		{"action ge 64.0", true},
		{"  action  eq  64  ", true},
	}
	for _, tt := range tests {
		e, err := parseFilter(tt.filter)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.filter, err)
			continue
		}
		if got := evalFilter(e, row); got != tt.want {
			t.Errorf("evalFilter(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, f := range []string{"", "action eq", "action eq 64 and", "(action eq 64", "action eq 64)", "action like 64",
		"action eq 'x", "action in (64,", "foo(action)", "assignedLicenses/all(x:x/skuId eq 1)", "a/b/c eq 1",
		"action eq 64 64", "not", "eq eq eq", "action eq #", strings.Repeat("(", 200) + "a eq 1" + strings.Repeat(")", 200)} {
		if _, err := parseFilter(f); err == nil {
			t.Errorf("parseFilter(%q) succeeded, want an error", f)
		}
	}
}

func TestFilterSchemaCheck(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		{"action eq 64 and createdon ge 2025-01-01T00:00:00Z", true},
		{"action eq '64'", false},
		{"createdon ge 64", false},
		{"nosuch eq 1", false},
		{"_userid_value eq 'not-a-guid'", false},
		{"_userid_value in (4026be43-6b69-e111-8f65-78e7d1620f5e, '4026be43-6b69-e111-8f65-78e7d1620f5f')", true},
		{"startswith(action,'6')", false},
		{"action gt null", false},
	}
	for _, tt := range tests {
		e, err := parseFilter(tt.filter)
		if err != nil {
			t.Fatalf("parseFilter(%q): %v", tt.filter, err)
		}
		err = auditSchema.check(e)
		if (err == nil) != tt.ok {
			t.Errorf("check(%q) = %v, want ok=%v", tt.filter, err, tt.ok)
		}
	}
}

func TestGraphLambdaFilter(t *testing.T) {
	e, err := parseFilter("assignedLicenses/any(x:x/skuId eq 1e1a282c-9c54-43a2-9310-98ef728faace)")
	if err != nil {
		t.Fatal(err)
	}
	if err := userFilterSchema.check(e); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"assignedLicenses/any(x:x/nope eq 1e1a282c-9c54-43a2-9310-98ef728faace)", "nope/any(x:x/skuId eq 1e1a282c-9c54-43a2-9310-98ef728faace)"} {
		e, err := parseFilter(bad)
		if err != nil {
			t.Fatal(err)
		}
		if userFilterSchema.check(e) == nil {
			t.Errorf("check(%q) succeeded", bad)
		}
	}
}

func TestAuditQueryPushdown(t *testing.T) {
	e, err := parseFilter("(action eq 64 or action eq 65) and createdon ge 2025-01-01T00:00:00Z and createdon lt 2025-02-01T00:00:00Z and _userid_value eq 4026BE43-6B69-E111-8F65-78E7D1620F5E and objecttypecode in ('contact','lead')")
	if err != nil {
		t.Fatal(err)
	}
	q := auditQuery(e)
	if len(q.Actions) != 2 || q.Actions[0] != 64 || q.Actions[1] != 65 {
		t.Errorf("Actions = %v", q.Actions)
	}
	if !q.CreatedOnGE.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) || !q.CreatedOnLT.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("time bounds = %v %v", q.CreatedOnGE, q.CreatedOnLT)
	}
	if len(q.UserIDs) != 1 || q.UserIDs[0] != "4026be43-6b69-e111-8f65-78e7d1620f5e" {
		t.Errorf("UserIDs = %v", q.UserIDs)
	}
	if len(q.ObjectTypeCodes) != 2 {
		t.Errorf("ObjectTypeCodes = %v", q.ObjectTypeCodes)
	}
	// An "or" across properties must not be pushed down.
	e2, _ := parseFilter("action eq 64 or operation eq 1")
	if q2 := auditQuery(e2); q2.Actions != nil || q2.Operations != nil {
		t.Errorf("cross-property or pushed down: %+v", q2)
	}
}

// FuzzParseFilter checks that the parser never panics, and that whatever
// it accepts can be type-checked and evaluated without panicking.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"(action eq 64 or action eq 65) and createdon ge 2025-01-01T00:00:00Z",
		"assignedLicenses/any(x:x/skuId eq 1e1a282c-9c54-43a2-9310-98ef728faace)",
		"startswith(domainname,'a''b') and not (isdisabled eq true)",
		"action in (64, 65, 112) and _userid_value eq '4026be43-6b69-e111-8f65-78e7d1620f5e'",
		"createdon gt 2025-01-01T00:00:00.1234567+02:00",
	} {
		f.Add(s)
	}
	row := mapRow{"action": float64(64), "createdon": time.Now(), "domainname": "x"}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseFilter(s)
		if err != nil {
			if _, ok := err.(*filterError); !ok {
				t.Fatalf("error of type %T, want *filterError", err)
			}
			return
		}
		auditSchema.check(e)
		userFilterSchema.check(e)
		evalFilter(e, row)
		timeBounds(e, "createdon")
		auditQuery(e)
	})
}
