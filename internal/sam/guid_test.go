package sam

import "testing"

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
