package sam

import (
	"strings"
	"testing"
)

func TestNormalizeGUID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
		{"0A1B2C3D-4E5F-6789-ABCD-EF0123456789", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
		{"{0a1b2c3d-4e5f-6789-abcd-ef0123456789}", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
		{" 0a1b2c3d-4e5f-6789-abcd-ef0123456789 ", "0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
		{"0a1b2c3d-4e5f-6789-abcd-ef012345678G", "0a1b2c3d-4e5f-6789-abcd-ef012345678g"},
		{"0a1b2c3d+4e5f-6789-abcd-ef0123456789", "0a1b2c3d+4e5f-6789-abcd-ef0123456789"},
		{"", ""},
		{"Not-A-Guid", "not-a-guid"},
	} {
		if got := NormalizeGUID(tt.in); got != tt.want {
			t.Errorf("NormalizeGUID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseGUID(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", true},
		{"0A1B2C3D-4E5F-6789-ABCD-EF0123456789", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", true},
		{"{0a1b2c3d-4e5f-6789-abcd-ef0123456789}", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", true},
		{" 0a1b2c3d-4e5f-6789-abcd-ef0123456789 ", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", true},
		{" {0a1b2c3d-4e5f-6789-abcd-ef0123456789} ", "", false}, // NormalizeGUID keeps these braces
		{"0a1b2c3d4e5f6789abcdef0123456789", "", false},
		{"0a1b2c3d-4e5f-6789-abcd-ef012345678g", "", false},
		{"", "", false},
	} {
		g, ok := ParseGUID(tt.in)
		if ok != tt.ok || (ok && g.String() != tt.want) {
			t.Errorf("ParseGUID(%q) = %v %v, want %q %v", tt.in, g, ok, tt.want, tt.ok)
		}
		if ok && g.String() != NormalizeGUID(tt.in) {
			t.Errorf("ParseGUID(%q).String() = %q, NormalizeGUID gives %q", tt.in, g, NormalizeGUID(tt.in))
		}
	}
}

// FuzzParseGUID checks ParseGUID against its definition: it accepts a GUID
// in either case, trimmed of spaces and braces as NormalizeGUID trims them,
// and gives what NormalizeGUID gives.
func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{"0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0A1B2C3D-4E5F-6789-ABCD-EF0123456789",
		"{0a1b2c3d-4e5f-6789-abcd-ef0123456789}", "0a1b2c3d-4e5f-6789-abcd-ef012345678g", "0a1b2c3d-4e5f-6789-abcd-ef01234567\xff9",
		"0a1b2c3d-4e5f-6789-abcd-ef01234567:9", "0a1b2c3d-4e5f-6789-abcd-ef01234567/9", "0a1b2c3d-4e5f-6789-abcd-ef01234567`9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, ok := ParseGUID(s)
		n := NormalizeGUID(s)
		if want := ValidGUID(s) || ValidGUID(strings.TrimSpace(strings.Trim(s, "{}"))); ok != want {
			t.Fatalf("ParseGUID(%q) ok = %v, want %v", s, ok, want)
		}
		if ok && g.String() != n {
			t.Fatalf("ParseGUID(%q) = %s, NormalizeGUID gives %s", s, g, n)
		}
	})
}

// FuzzNormalizeGUID checks NormalizeGUID's fast way for a GUID already in
// form against its definition: any string trimmed of braces and spaces, in
// lower case.
func FuzzNormalizeGUID(f *testing.F) {
	for _, s := range []string{"0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0A1B2C3D-4E5F-6789-ABCD-EF0123456789",
		"{0a1b2c3d-4e5f-6789-abcd-ef0123456789}", "0a1b2c3d-4e5f-6789-abcd-ef012345678g", "0a1b2c3d-4e5f-6789-abcd-ef0123456789 ",
		"0a1b2c3d-4e5f-6789-abcd-ef01234567-9", "-a1b2c3d-4e5f-6789-abcd-ef0123456789", "0a1b2c3d-4e5f-6789-abcd-ef012345678\xe4", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := NormalizeGUID(s), strings.ToLower(strings.TrimSpace(strings.Trim(s, "{}"))); got != want {
			t.Fatalf("NormalizeGUID(%q) = %q, want %q", s, got, want)
		}
		if got, want := lowerGUID(s), ValidGUID(s) && s == strings.ToLower(s); got != want {
			t.Fatalf("lowerGUID(%q) = %v, want %v", s, got, want)
		}
	})
}

func BenchmarkNormalizeGUID(b *testing.B) {
	for _, s := range []string{"0a1b2c3d-4e5f-6789-abcd-ef0123456789", "0A1B2C3D-4E5F-6789-ABCD-EF0123456789"} {
		b.Run(s[:4], func(b *testing.B) {
			for b.Loop() {
				_ = NormalizeGUID(s)
			}
		})
	}
}
