package reclaim

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkEvaluate measures the daily rule evaluation of one profile on
// SQLite after the first one created the candidates: subscriptions
// evaluated per second ("subs/s") and the candidates the first evaluation
// created ("candidates"). The tenant size is SEATWISE_BENCH_RECLAIM_USERS
// (default 2000 users, 2 environments). Run:
//
//	SEATWISE_BENCH_RECLAIM_USERS=2000 go test ./internal/reclaim -run '^$' -bench BenchmarkEvaluate -benchtime 5x
func BenchmarkEvaluate(b *testing.B) {
	users := 2000
	if v, err := strconv.Atoi(os.Getenv("SEATWISE_BENCH_RECLAIM_USERS")); err == nil && v > 0 {
		users = v
	}
	x := setup(b, dialects[0].url(b), users)
	first := x.evaluate()
	p := x.profile()
	b.ResetTimer()
	evaluated := 0
	for b.Loop() {
		r, err := x.e.Evaluate(x.ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		evaluated += r.Evaluated
	}
	b.ReportMetric(float64(evaluated)/b.Elapsed().Seconds(), "subs/s")
	b.ReportMetric(float64(first.Created), "candidates")
}
