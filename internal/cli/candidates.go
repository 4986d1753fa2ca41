package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
	"github.com/spf13/cobra"
)

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "candidates",
			Short: "Removal candidates: list and show them with their evidence, approve or deny a request to keep, skip, reclaim or undo",
		}
		cmd.AddCommand(newCandidatesList(a), newCandidatesShow(a),
			newCandidateAction(a, "approve", "Grant a user's request to keep the licence (awaiting approval → closed skipped)",
				func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error) {
					return e.Approve(ctx, id, actor, reason)
				}),
			newCandidateAction(a, "deny", "Refuse a user's request to keep the licence (awaiting approval → awaiting revocation)",
				func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error) {
					return e.Deny(ctx, id, actor, reason)
				}),
			newCandidateAction(a, "skip", "Close an open candidate as skipped: the user keeps the licence",
				func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error) {
					return e.Skip(ctx, id, actor, reason)
				}),
			newCandidateAction(a, "requeue", "Put a candidate that needed attention back in the queue (ready)",
				func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error) {
					return e.Requeue(ctx, id, actor, reason)
				}),
			newCandidateAction(a, "undo", "Give a removed licence back (within the undo window): the same SKU is assigned again",
				func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error) {
					return e.Undo(ctx, id, actor, reason)
				}),
			newCandidatesReclaim(a))
		nowFlag(cmd)
		return cmd
	})
}

// CandidateRow is a removal candidate as the CLI prints it.
type CandidateRow struct {
	ID            int64    `json:"id"`
	Profile       string   `json:"profile"`
	UserID        string   `json:"user_id"`
	UPN           string   `json:"upn"`
	DisplayName   string   `json:"display_name"`
	Department    string   `json:"department,omitempty"`
	Country       string   `json:"country,omitempty"`
	SKUID         string   `json:"sku_id"`
	PartNumber    string   `json:"part_number"`
	AssignedBy    string   `json:"assigned_by"` // "direct" or the group id
	Justification string   `json:"justification"`
	InactiveDays  int      `json:"inactive_days"` // -1: never active
	LastActivity  string   `json:"last_activity,omitempty"`
	Saving        string   `json:"saving"` // per month, decimal
	Currency      string   `json:"currency,omitempty"`
	State         string   `json:"state"`
	Due           string   `json:"due,omitempty"`
	Message       string   `json:"message,omitempty"`
	Approvers     []string `json:"approvers,omitempty"`
	RemovedAt     string   `json:"removed_at,omitempty"`
	UndoUntil     string   `json:"undo_until,omitempty"`
	Created       string   `json:"created"`
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func candidateRow(c *store.Candidate, n *names) CandidateRow {
	r := CandidateRow{ID: c.ID, Profile: n.profile(c.ProfileID), UserID: c.UserID, UPN: c.UPN, DisplayName: c.DisplayName,
		Department: c.Department, Country: c.Country, SKUID: c.SKUID, PartNumber: n.model(c.SKUID), AssignedBy: "direct",
		Justification: string(c.Justification), InactiveDays: c.InactiveDays, Saving: sam.FormatMoney(c.Saving, ""),
		Currency: c.Currency, State: string(c.State), Due: rfc(c.DueAt), Message: c.Message, Approvers: c.Approvers,
		RemovedAt: rfc(c.RemovedAt), UndoUntil: rfc(c.UndoUntil), Created: rfc(c.CreatedAt)}
	if c.AssignedByGroup != "" {
		r.AssignedBy = c.AssignedByGroup
	}
	if c.LastActivity != nil {
		r.LastActivity = rfc(*c.LastActivity)
	}
	return r
}

var candidateColumns = []string{"id", "profile", "upn", "part_number", "justification", "inactive_days", "saving", "currency", "state", "due", "message"}

func (r CandidateRow) cells() []string {
	return []string{strconv.FormatInt(r.ID, 10), r.Profile, r.UPN, r.PartNumber, r.Justification, strconv.Itoa(r.InactiveDays),
		r.Saving, r.Currency, r.State, r.Due, r.Message}
}

func newCandidatesList(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List removal candidates (open ones unless --all or --state)", Args: cobra.NoArgs}
	profile := cmd.Flags().String("profile", "", "only this profile")
	state := cmd.Flags().String("state", "", "only these states, comma-separated (e.g. awaiting_user,attention_required)")
	all := cmd.Flags().Bool("all", false, "closed candidates too")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		pid, err := profileID(ctx, st, *profile)
		if err != nil {
			return err
		}
		filter := store.CandidateFilter{ProfileID: pid, OpenOnly: !*all && *state == "", Limit: 1000}
		for _, s := range splitList(*state) {
			cs := store.CandidateState(strings.ToLower(s))
			if !cs.Valid() {
				return sam.Errorf(sam.EINVALID, "--state %q: not a candidate state (%v)", s, store.CandidateStates)
			}
			filter.States = append(filter.States, cs)
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		pr := NewPrinter(a.Stdout, f, candidateColumns...)
		for {
			raw, err := st.Candidates(ctx, filter)
			if err != nil {
				return err
			}
			last := int64(0)
			if len(raw) > 0 {
				last = raw[len(raw)-1].ID
			}
			full := len(raw) == filter.Limit
			page, err := e.Visible(ctx, raw) // exclusions apply to reports too
			if err != nil {
				return err
			}
			for _, c := range page {
				r := candidateRow(c, n)
				if err := pr.Row(r, r.cells()...); err != nil {
					return err
				}
			}
			if !full {
				break
			}
			filter.AfterID = last
		}
		return pr.Close()
	}
	return cmd
}

// CandidateDetail is a candidate with its evidence and history.
type CandidateDetail struct {
	CandidateRow
	Evidence    store.Evidence     `json:"evidence"`
	Transitions []store.Transition `json:"transitions"`
}

func newCandidatesShow(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "show ID", Short: "Show a candidate with its evidence and every transition", Args: cobra.ExactArgs(1)}
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		id, err := parseRecordID(args[0], "candidate")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		c, hist, err := e.Candidate(ctx, id)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		r := candidateRow(c, n)
		d := CandidateDetail{CandidateRow: r, Evidence: c.Evidence, Transitions: hist}
		if d.Transitions == nil {
			d.Transitions = []store.Transition{}
		}
		cells := r.cells()
		var fields []Field
		for i, col := range candidateColumns {
			fields = append(fields, Field{col, cells[i]})
		}
		fields = append(fields, Field{"user_id", r.UserID}, Field{"display_name", r.DisplayName}, Field{"department", r.Department},
			Field{"country", r.Country}, Field{"sku_id", r.SKUID}, Field{"assigned_by", r.AssignedBy}, Field{"last_activity", r.LastActivity},
			Field{"approvers", strings.Join(r.Approvers, ", ")}, Field{"removed_at", r.RemovedAt}, Field{"undo_until", r.UndoUntil},
			Field{"evidence", c.Evidence.Note}, Field{"sources", strings.Join(c.Evidence.Sources, ", ")},
			Field{"analysis_from", rfc(c.Evidence.AnalysisFrom)})
		for i, day := range c.Evidence.Days {
			name := ""
			if i == 0 {
				name = "activity"
			}
			fields = append(fields, Field{name, fmt.Sprintf("%s %s env %d: %d event(s), last %s", sam.FormatDay(day.Day), day.Source, day.EnvironmentID, day.Events, rfc(day.LastAt))})
		}
		for i, h := range hist {
			name := ""
			if i == 0 {
				name = "history"
			}
			from := string(h.From)
			if from == "" {
				from = "(new)"
			}
			fields = append(fields, Field{name, fmt.Sprintf("%s %s → %s by %s: %s", rfc(h.At), from, h.To, h.Actor, h.Reason)})
		}
		if f == FormatCSV {
			fields = fields[:len(candidateColumns)+13]
		}
		return WriteRecord(a.Stdout, f, d, fields...)
	}
	return cmd
}

type candidateFunc func(ctx context.Context, e *reclaim.Engine, id int64, actor, reason string) (*store.Candidate, error)

func newCandidateAction(a *App, name, short string, fn candidateFunc) *cobra.Command {
	cmd := &cobra.Command{Use: name + " ID", Short: short, Args: cobra.ExactArgs(1)}
	reason := cmd.Flags().String("reason", "", "why (stored with the transition)")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		id, err := parseRecordID(args[0], "candidate")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		c, err := fn(ctx, e, id, cliActor(), *reason)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		return printCandidate(a, f, candidateRow(c, n))
	}
	return cmd
}

func printCandidate(a *App, f Format, r CandidateRow) error {
	cells := r.cells()
	fields := make([]Field, len(candidateColumns))
	for i, c := range candidateColumns {
		fields[i] = Field{c, cells[i]}
	}
	return WriteRecord(a.Stdout, f, r, fields...)
}

func newCandidatesReclaim(a *App) *cobra.Command {
	cmd := &cobra.Command{Use: "reclaim ID...", Short: "Remove candidates' licences now (dry run, staleness and cap checks apply; several IDs are one run for the cap)",
		Long: "Remove the licences of one or more removal candidates now. Several IDs are one run: the per-run cap (count, and percentage " +
			"of each SKU's seats) applies to all of them together, and a batch over it is refused as a whole, changing nothing, unless --override-cap.",
		Args: cobra.MinimumNArgs(1)}
	reason := cmd.Flags().String("reason", "", "why (stored with the transition)")
	override := cmd.Flags().Bool("override-cap", false, "remove even if this exceeds the per-run cap")
	output := OutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := output()
		if err != nil {
			return err
		}
		ids := make([]int64, len(args))
		for i, arg := range args {
			if ids[i], err = parseRecordID(arg, "candidate"); err != nil {
				return err
			}
		}
		ctx := cmd.Context()
		st, e, err := a.reclaimEngine(ctx, cmd)
		if err != nil {
			return err
		}
		defer st.Close()
		opt := reclaim.RunOptions{OverrideCap: *override}
		if len(ids) > 1 {
			return reclaimMany(cmd, a, f, st, e, ids, *reason, opt)
		}
		id := ids[0]
		res, err := e.Reclaim(ctx, id, cliActor(), *reason, opt)
		if err != nil {
			return err
		}
		c, err := st.Candidate(ctx, id)
		if err != nil {
			return err
		}
		n, err := loadNames(ctx, st)
		if err != nil {
			return err
		}
		if err := printCandidate(a, f, candidateRow(c, n)); err != nil {
			return err
		}
		if res.Blocked != "" {
			return sam.Errorf(sam.ECONFLICT, "candidate %d: %s", id, res.Blocked)
		}
		if f == FormatTable {
			_, err = fmt.Fprintln(a.Stdout, res.Summary())
		}
		return err
	}
	return cmd
}

// reclaimMany reclaims several candidates as one run (one cap check for the
// batch) and prints a row per candidate it could read; candidates that
// failed or were blocked make the command fail after printing.
func reclaimMany(cmd *cobra.Command, a *App, f Format, st store.Store, e *reclaim.Engine, ids []int64, reason string, opt reclaim.RunOptions) error {
	ctx := cmd.Context()
	res, err := e.ReclaimMany(ctx, ids, cliActor(), reason, opt)
	if res == nil {
		return err
	}
	n, nerr := loadNames(ctx, st)
	if nerr != nil {
		return nerr
	}
	pr := NewPrinter(a.Stdout, f, candidateColumns...)
	var problems []string
	for _, it := range res.Items {
		switch {
		case it.Err != nil:
			problems = append(problems, fmt.Sprintf("candidate %d: %s", it.ID, sam.ErrorMessage(it.Err)))
		case it.Blocked != "":
			problems = append(problems, fmt.Sprintf("candidate %d: %s", it.ID, it.Blocked))
		}
		if it.Candidate == nil {
			continue
		}
		r := candidateRow(it.Candidate, n)
		if perr := pr.Row(r, r.cells()...); perr != nil {
			return perr
		}
	}
	if perr := pr.Close(); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return sam.Errorf(sam.ECONFLICT, "%d of %d candidate(s) not reclaimed: %s", len(problems), len(res.Items), strings.Join(problems, "; "))
	}
	if f == FormatTable {
		_, err = fmt.Fprintln(a.Stdout, res.Summary())
	}
	return err
}
