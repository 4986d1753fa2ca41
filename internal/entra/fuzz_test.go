package entra

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseTokenResponse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"access_token":"a","expires_in":"1e7"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseTokenResponse(body)
		if err != nil {
			return
		}
		if r.AccessToken == "" || r.ExpiresIn < 0 || r.ExtExpiresIn < 0 {
			t.Fatalf("accepted %q as %+v", body, r)
		}
	})
}
