package ingest_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store/sqlite"
)

// TestParallelBackfillKilledEqualsSequential syncs one tenant three times
// in child processes: page after page (one audit stream), in parallel
// uninterrupted, and in parallel killed with SIGKILL at random points and
// resumed until it finishes. All three databases must be identical, and at
// least one kill must have landed while several createdon ranges were
// being read (the checkpoint left behind lists them).
func TestParallelBackfillKilledEqualsSequential(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	cfg := generated(13, 1000, 2)
	cfg.Limits = mscloud.MicrosoftLimits()
	cfg.Faults.Dataverse.Latency = mscloud.Duration(5 * time.Millisecond)
	cfg.Faults.Dataverse.Jitter = mscloud.Duration(5 * time.Millisecond)
	b := setup(t, cfg)
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(db string, streams int, killAfter time.Duration) (finished bool) {
		return runChild(t, exe, killAfter, "CHILD_DB="+db, "CHILD_SECRET="+b.srv.Info().ClientSecret,
			"CHILD_NOW="+b.ten.Now().Format(time.RFC3339Nano), "CHILD_PAGE=200", "CHILD_BATCH=1500",
			"CHILD_STREAMS="+strconv.Itoa(streams))
	}

	seq := newProfileDB(t, b, dir, "seq.db")
	run(seq, 1, 0)
	par := newProfileDB(t, b, dir, "par.db")
	start := time.Now()
	run(par, 12, 0)
	full := time.Since(start)
	t.Logf("uninterrupted parallel sync: %v", full)

	killed := newProfileDB(t, b, dir, "killed.db")
	rng := rand.New(rand.NewPCG(13, 29))
	kills, midBackfill := 0, 0
	for i := 0; i < 15; i++ {
		if run(killed, 12, time.Duration(float64(full)*(0.05+0.25*rng.Float64()))) {
			break
		}
		kills++
		if n := rangesInCheckpoint(t, killed); n > 1 {
			midBackfill++
		}
	}
	run(killed, 12, 0)
	t.Logf("%d runs killed, %d of them while several audit ranges were being read", kills, midBackfill)
	if midBackfill == 0 {
		t.Error("no kill landed in a parallel backfill")
	}
	compareStores(t, b, seq, par)
	compareStores(t, b, seq, killed)
}

// rangesInCheckpoint returns how many createdon ranges the unfinished
// activity run of profile "sim" in the database at path records (0 when
// there is no such run or it is not in a parallel backfill).
func rangesInCheckpoint(t *testing.T, path string) int {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.ProfileByName(ctx, "sim")
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.UnfinishedRun(ctx, p.ID, sam.RunActivity)
	if sam.IsCode(err, sam.ENOTFOUND) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Ranges []json.RawMessage `json:"ranges"`
	}
	if err := json.Unmarshal(r.Checkpoint, &cp); err != nil {
		t.Fatalf("checkpoint of run %d: %v", r.ID, err)
	}
	return len(cp.Ranges)
}
