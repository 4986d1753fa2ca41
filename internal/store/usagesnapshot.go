package store

import (
	"context"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// UsageSnapshotStore keeps the history behind the dashboard's trends: a
// daily snapshot per profile of its open subscriptions counted by SKU,
// usage class and idle bucket (days since the last activity). The store
// takes one at the end of every successful activity run (FinishRun), the
// last run of a day replacing that day's earlier snapshot, in the run's
// finishing transaction.
type UsageSnapshotStore interface {
	// UsageBreakdown counts the open subscriptions of a profile (0: every
	// profile) by profile, SKU, usage class and idle bucket as of at,
	// ordered by profile, SKU, class and bucket.
	UsageBreakdown(ctx context.Context, profileID int64, at time.Time) ([]UsageBucket, error)
	// RecordUsageSnapshot stores the breakdown of a profile as of at as the
	// snapshot of at's UTC day, replacing an earlier one of that day.
	// ENOTFOUND when the profile does not exist.
	RecordUsageSnapshot(ctx context.Context, profileID int64, at time.Time) error
	// UsageSnapshots returns the snapshot rows matching f ordered by day,
	// profile, SKU, class and bucket.
	UsageSnapshots(ctx context.Context, f UsageSnapshotFilter) ([]UsageSnapshot, error)
}

// UsageBucket is the number of open subscriptions of one profile and SKU in
// one usage class and idle bucket.
type UsageBucket struct {
	ProfileID  int64
	SKUID      string
	UsageClass sam.UsageClass
	Idle       string // one of IdleBuckets' names
	Count      int
}

// UsageSnapshot is one row of a daily snapshot.
type UsageSnapshot struct {
	Day     time.Time // UTC midnight
	TakenAt time.Time
	UsageBucket
}

// UsageSnapshotFilter selects snapshot rows: a profile (0: every profile)
// and days From to To inclusive (zero: unbounded).
type UsageSnapshotFilter struct {
	ProfileID int64
	From, To  time.Time
}

// IdleBucket is a range of whole UTC days since a subscription's last
// activity: MaxDays is the last day of the range (-1: unbounded). The bucket
// "never" holds subscriptions without any activity.
type IdleBucket struct {
	Name    string
	MaxDays int
}

// IdleNever names the bucket of subscriptions never active.
const IdleNever = "never"

// IdleBuckets are the idle buckets in order, "never" last.
var IdleBuckets = []IdleBucket{{"0-7", 7}, {"8-30", 30}, {"31-60", 60}, {"61-90", 90}, {"91-180", 180}, {"181+", -1}, {IdleNever, -1}}

// IdleBucketOf returns the idle bucket of a last activity (nil: never) as
// of at: the whole UTC days between the two (sam.DaysBetween).
func IdleBucketOf(last *time.Time, at time.Time) string {
	if last == nil {
		return IdleNever
	}
	d := sam.DaysBetween(*last, at)
	for _, b := range IdleBuckets {
		if b.MaxDays >= 0 && d <= b.MaxDays {
			return b.Name
		}
	}
	return "181+"
}

// ChangeStampStore tells cheaply whether what the server shows may have
// changed.
type ChangeStampStore interface {
	// ChangeStamp returns a short text that changes whenever a run starts
	// or finishes, a profile is added or removed, an entitlement is
	// added, changed or removed, or an audit entry is appended. Equal
	// stamps mean none of these happened in between.
	ChangeStamp(ctx context.Context) (string, error)
}
