package sam

import "time"

// LowUsageDays is the number of distinct active days in the last 30 below
// which a user who is still active is classed as low usage.
const LowUsageDays = 4

// UsageFacts are the inputs of the usage verdict for one subscription.
type UsageFacts struct {
	AccountEnabled bool
	// LastActivity is the newest evidence of use counted for the
	// subscription's model, nil when there is none.
	LastActivity *time.Time
	ActiveDays30 int // distinct UTC days with evidence in the 30 days up to Now
	// CoverageComplete is false when some environment of the profile could not
	// be read or does not audit user access over the whole analysis window
	// (auditing off, user-access auditing off, retention too short). Absence of
	// evidence then proves nothing.
	CoverageComplete bool
	Now              time.Time
}

// DaysBetween returns the number of whole UTC calendar days from a to b
// (0 when both fall on the same day, negative when b is before a).
func DaysBetween(a, b time.Time) int {
	da := time.Date(a.UTC().Year(), a.UTC().Month(), a.UTC().Day(), 0, 0, 0, 0, time.UTC)
	db := time.Date(b.UTC().Year(), b.UTC().Month(), b.UTC().Day(), 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

// Day returns t's UTC calendar day at midnight.
func Day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Classify returns the usage class of a subscription:
//
//   - a disabled account is UsageDisabled whatever its activity;
//   - activity within the last 30 days is UsageActive, or UsageLow when it
//     fell on fewer than LowUsageDays distinct days;
//   - with incomplete audit coverage any other case is UsageUnknown, never
//     inactive: missing evidence may be missing auditing;
//   - no evidence at all is UsageNeverActive;
//   - otherwise the last activity is 30, 60 or 90 or more days old:
//     UsageInactive30, UsageInactive60, UsageInactive90.
func Classify(f UsageFacts) UsageClass {
	if !f.AccountEnabled {
		return UsageDisabled
	}
	if f.LastActivity != nil {
		if d := DaysBetween(*f.LastActivity, f.Now); d < 30 {
			if f.ActiveDays30 < LowUsageDays {
				return UsageLow
			}
			return UsageActive
		}
	}
	if !f.CoverageComplete {
		return UsageUnknown
	}
	if f.LastActivity == nil {
		return UsageNeverActive
	}
	switch d := DaysBetween(*f.LastActivity, f.Now); {
	case d >= 90:
		return UsageInactive90
	case d >= 60:
		return UsageInactive60
	default:
		return UsageInactive30
	}
}

// InactiveDays returns the whole days since the last activity, or -1 when
// there is none.
func InactiveDays(last *time.Time, now time.Time) int {
	if last == nil {
		return -1
	}
	return DaysBetween(*last, now)
}
