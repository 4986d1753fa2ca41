package web_test

import (
	"testing"

	"github.com/seatwise/seatwise/internal/auth"
	"github.com/seatwise/seatwise/internal/web"
)

func TestMetricsAccess(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    string
		bad     bool
	}{
		{"", "admin or sam_integrator or sam_manager or viewer", false},
		{"signed-in", "admin or sam_integrator or sam_manager or viewer", false},
		{"public", "public", false},
		{"admin", "admin", false},
		{"viewer", "admin or viewer", false},
		{"everyone", "", true},
	} {
		a, err := web.ParseMetricsAccess(tc.setting)
		if (err != nil) != tc.bad || (!tc.bad && a.String() != tc.want) {
			t.Errorf("ParseMetricsAccess(%q) = %v, %v; want %q (error %v)", tc.setting, a, err, tc.want, tc.bad)
		}
	}
	pub := setup(t, func(c *web.Config) { c.MetricsAccess = "public" })
	if r := pub.do(nil, "GET", "/metrics", nil, nil); r.status != 200 {
		t.Errorf("public metrics, anonymous: %d", r.status)
	}
	adm := setup(t, func(c *web.Config) { c.MetricsAccess = "admin" })
	if r := adm.do(nil, "GET", "/metrics", nil, bearer(adm.token(auth.RoleViewer))); r.status != 403 {
		t.Errorf("admin-only metrics, viewer: %d", r.status)
	}
	if r := adm.do(nil, "GET", "/metrics", nil, bearer(adm.token(auth.RoleAdmin))); r.status != 200 {
		t.Errorf("admin-only metrics, admin: %d", r.status)
	}
	if _, err := web.New(web.Config{Store: adm.st, Auth: adm.auth, MetricsAccess: "everyone"}); err == nil {
		t.Error("New accepted metrics access \"everyone\"")
	}
}
