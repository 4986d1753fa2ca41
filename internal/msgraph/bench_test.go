package msgraph

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/odata"
)

// BenchmarkUsersPage measures fetching and decoding one full /users page
// (999 users with licences, states, plans and sign-in activity) over
// loopback HTTP: the unit of a subscriptions run.
func BenchmarkUsersPage(b *testing.B) {
	users := make([]string, MaxPageSize)
	for i := range users {
		users[i] = genUser(i % 10)
	}
	body := `{"@odata.context":"x","value":[` + strings.Join(users, ",") + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	c := New(srv.URL+"/v1.0", odata.New(odata.Config{Service: odata.ServiceGraph}))
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		p, err := c.UsersPage(ctx, "users")
		if err != nil || len(p.Users) != MaxPageSize {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*MaxPageSize)/time.Since(start).Seconds(), "users/s")
}
