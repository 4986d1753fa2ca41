package sam

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Commitment is how an entitlement is billed and how long it binds.
type Commitment string

// Commitments.
const (
	CommitmentMonthly Commitment = "monthly" // month to month, can be cut at any month end
	CommitmentAnnual  Commitment = "annual"  // bound until the term ends
)

// ParseCommitment returns the commitment named s (case-insensitive, "month"
// and "year"/"yearly" accepted); EINVALID otherwise.
func ParseCommitment(s string) (Commitment, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "monthly", "month":
		return CommitmentMonthly, nil
	case "annual", "annually", "yearly", "year":
		return CommitmentAnnual, nil
	}
	return "", Errorf(EINVALID, "commitment %q: want monthly or annual", s)
}

// Entitlement is rights purchased for one software model in one tenant
// (integration profile): Quantity user subscriptions at UnitCost each per
// month, valid from TermStart to TermEnd inclusive (UTC days).
type Entitlement struct {
	ID            int64
	ProfileID     int64  // the tenant the rights were bought for
	SKUID         string // software model, lower case
	Quantity      int64  // rights (users), > 0
	UnitCost      int64  // minor units (cents) per right per month, >= 0
	Currency      string // ISO 4217, three upper-case letters
	TermStart     time.Time
	TermEnd       time.Time // inclusive; on or after TermStart
	Commitment    Commitment
	CostCenter    string
	PurchaseOrder string
	Notes         string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Normalize puts e's fields in the form Seatwise stores: SKU id lower case,
// currency upper case, terms at UTC midnight, text trimmed.
func (e *Entitlement) Normalize() {
	e.SKUID = NormalizeGUID(e.SKUID)
	e.Currency = strings.ToUpper(strings.TrimSpace(e.Currency))
	if !e.TermStart.IsZero() {
		e.TermStart = Day(e.TermStart)
	}
	if !e.TermEnd.IsZero() {
		e.TermEnd = Day(e.TermEnd)
	}
	e.CostCenter = strings.TrimSpace(e.CostCenter)
	e.PurchaseOrder = strings.TrimSpace(e.PurchaseOrder)
	e.Notes = strings.TrimSpace(e.Notes)
}

// Validate reports the first problem of e as an EINVALID error naming the
// field: missing profile, SKU id that is not a GUID, quantity not positive,
// negative unit cost, currency not three letters, missing term dates, term
// ending before it starts, unknown commitment. It does not check that the
// SKU or profile exist (the store does).
func (e *Entitlement) Validate() error {
	switch {
	case e.ProfileID <= 0:
		return Errorf(EINVALID, "entitlement: profile is required")
	case !ValidGUID(e.SKUID):
		return Errorf(EINVALID, "entitlement: SKU id %q is not a GUID", e.SKUID)
	case e.Quantity <= 0:
		return Errorf(EINVALID, "entitlement: quantity %d must be positive", e.Quantity)
	case e.UnitCost < 0:
		return Errorf(EINVALID, "entitlement: unit cost %d must not be negative", e.UnitCost)
	case !ValidCurrency(e.Currency):
		return Errorf(EINVALID, "entitlement: currency %q is not an ISO 4217 code (three letters, e.g. USD)", e.Currency)
	case e.TermStart.IsZero():
		return Errorf(EINVALID, "entitlement: term start is required")
	case e.TermEnd.IsZero():
		return Errorf(EINVALID, "entitlement: term end is required")
	case Day(e.TermEnd).Before(Day(e.TermStart)):
		return Errorf(EINVALID, "entitlement: term end %s is before term start %s", FormatDay(e.TermEnd), FormatDay(e.TermStart))
	case e.Commitment != CommitmentMonthly && e.Commitment != CommitmentAnnual:
		return Errorf(EINVALID, "entitlement: commitment %q: want monthly or annual", e.Commitment)
	case len(e.Notes) > 4000:
		return Errorf(EINVALID, "entitlement: notes longer than 4000 bytes")
	}
	return nil
}

// ActiveOn reports whether the entitlement's term covers day (inclusive at
// both ends, compared as UTC days).
func (e *Entitlement) ActiveOn(day time.Time) bool {
	d := Day(day)
	return !d.Before(Day(e.TermStart)) && !d.After(Day(e.TermEnd))
}

// ValidCurrency reports whether c looks like an ISO 4217 code: three
// upper-case ASCII letters.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// FormatDay formats t as its UTC day, 2006-01-02.
func FormatDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ParseDay parses a 2006-01-02 date as a UTC midnight; EINVALID otherwise.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// FormatMoney formats an amount of minor units with two decimals and the
// currency, e.g. 123456, "EUR" → "1234.56 EUR". Every currency Seatwise
// handles is treated as having two decimals.
func FormatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
	if currency != "" {
		s += " " + currency
	}
	return s
}

// ParseMoney parses a decimal amount with at most two decimals ("65",
// "65.5", "65.50", "1,234.50" is refused) into minor units; EINVALID for
// anything else, including negative amounts.
func ParseMoney(s string) (int64, error) {
	s = strings.TrimSpace(s)
	bad := Errorf(EINVALID, "amount %q: want a non-negative number with at most two decimals, e.g. 65.00", s)
	if s == "" {
		return 0, bad
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || (hasDot && frac == "") {
		return 0, bad
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, bad
		}
	}
	if len(whole) > 15 {
		return 0, bad
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, bad
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}
