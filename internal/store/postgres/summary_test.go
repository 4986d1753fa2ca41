package postgres_test

import (
	"context"
	"testing"

	"github.com/seatwise/seatwise/internal/pgtest"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/seatwise/seatwise/internal/store/postgres"
	"github.com/seatwise/seatwise/internal/store/sqlstore"
	"github.com/seatwise/seatwise/internal/store/storetest"
)

// TestStagedEvidenceSummary: an activity commit that takes its evidence
// from the summary made while staging ends as one reading the staged rows.
// (Not parallel: it sets sqlstore.SummarizeStaged.)
func TestStagedEvidenceSummary(t *testing.T) {
	storetest.CheckStagedEvidenceSummary(t, func(t *testing.T) string { return pgtest.URL(t) },
		func(ctx context.Context, url string) (store.Store, error) { return postgres.Open(ctx, url) },
		func(on bool) { sqlstore.SummarizeStaged = on })
}

// TestConformanceStagedNotSummarized runs the suite with summaries of
// staged evidence off: every activity commit reads the staged rows back.
// (Not parallel: it sets sqlstore.SummarizeStaged.)
func TestConformanceStagedNotSummarized(t *testing.T) {
	sqlstore.SummarizeStaged = false
	t.Cleanup(func() { sqlstore.SummarizeStaged = true })
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t) })
}
