package mscloud

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSON(t *testing.T) {
	v := obj{{"b", 1}, {"a", "x&<>\"\\\n\u2028"}, {"n", nil}, {"t", time.Date(2025, 5, 12, 22, 19, 12, 5, time.UTC)}, {"l", []string{}}, {"o", []obj{{{"k", true}}}}, {"r", rawJSON(`{"z":1}`)}, {"f", 2.5}}
	got := string(appendJSON(nil, v))
	want := `{"b":1,"a":"x&<>\"\\\n\u2028","n":null,"t":"2025-05-12T22:19:12Z","l":[],"o":[{"k":true}],"r":{"z":1},"f":2.5}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// FuzzAppendString checks that every string encodes to valid JSON that
// decodes back to it (invalid UTF-8 becomes U+FFFD, as in encoding/json).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ ctl\x01 \u2029 é", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, b, err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = strings.ToValidUTF8(s, "\ufffd")
			// encoding/json replaces each invalid byte; compare loosely.
			if !utf8.ValidString(back) {
				t.Fatalf("decoded invalid UTF-8 %q", back)
			}
			return
		}
		if back != want {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}

// TestAppendUserMatchesTree checks the direct user encoder against the
// generic one for every property and every user of a generated tenant.
func TestAppendUserMatchesTree(t *testing.T) {
	b := setup(t, 60, 1)
	users, _, err := b.s.Tenant().UsersPage("", 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		for _, upper := range []bool{false, true} {
			got := string(appendUser(nil, &users[i], userProps, upper))
			want := string(appendJSON(nil, renderUser(&users[i], userProps, upper)))
			if got != want {
				t.Fatalf("user %s:\n got  %s\n want %s", users[i].ID, got, want)
			}
		}
	}
}
