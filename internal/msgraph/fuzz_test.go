package msgraph

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/odata"
)

// FuzzUsersPage decodes arbitrary /users and users/delta pages: no panic,
// and every GUID that comes out is lower case.
func FuzzUsersPage(f *testing.F) {
	files, _ := filepath.Glob("testdata/graph-user*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"value":[` + genUser(0) + `,` + genUser(1) + `]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := odata.DecodePageOf[wireUser]("https://graph.example/v1.0/users", body)
		if err != nil {
			return
		}
		for _, u := range userPage(p).Users {
			ids := []string{u.ID}
			for _, l := range u.AssignedLicenses {
				ids = append(ids, l.SKUID)
			}
			for _, s := range u.LicenseAssignmentStates {
				ids = append(ids, s.SKUID, s.AssignedByGroup)
				if strings.EqualFold(s.Error, "none") {
					t.Fatalf("error %q kept", s.Error)
				}
			}
			for _, id := range ids {
				if id != strings.ToLower(id) {
					t.Fatalf("GUID %q not lower case", id)
				}
			}
			if a := u.SignInActivity; a != nil && a.LastSignIn != nil && a.LastSignIn.Year() <= 1 {
				t.Fatalf("never sign-in kept as %v", a.LastSignIn)
			}
		}
	})
}
