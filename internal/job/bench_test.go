package job_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/job"
)

// BenchmarkDrain measures the queue's overhead per job: b.N jobs of a no-op
// kind, enqueued together, drained by one runner with four workers (claim,
// attempt record, finish: three transactions per job).
func BenchmarkDrain(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			st := openStore(b, d.url(b))
			db := rawDB(b, st)
			q := "INSERT INTO jobs (kind, profile_id, state, max_attempts, run_at, created_at) VALUES ('noop', 0, 'available', 1, ?, ?)"
			if st.Dialect() == "postgres" {
				q = strings.NewReplacer("?, ?)", "$1, $2)").Replace(q)
			}
			now := time.Now().UnixMicro()
			for range b.N {
				if _, err := db.Exec(q, now, now); err != nil {
					b.Fatal(err)
				}
			}
			var done atomic.Int64
			finished := make(chan struct{})
			b.ResetTimer()
			newRunner(b, job.Config{Store: st, Workers: 4, Handlers: map[job.Kind]job.Handler{"noop": func(ctx context.Context, j *job.Job) (job.Outcome, error) {
				if done.Add(1) == int64(b.N) {
					close(finished)
				}
				return job.Outcome{}, nil
			}}})
			<-finished
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
