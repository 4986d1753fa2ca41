package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/seatwise/seatwise/internal/store"
)

// TestBrowserApproveCandidate approves a request to keep a licence from the
// candidate queue in a real Chromium: sign in as a licence manager, open
// the queue through the navigation, filter on awaiting approval, tick the
// candidate, choose Approve and apply; the queue then says so, and the
// candidate's page shows it closed with the manager in its history.
func TestBrowserApproveCandidate(t *testing.T) {
	exe := chromiumPath(t)
	b := setup(t)
	f := seedCandidates(t, b, store.StateAwaitingApproval, store.StateAwaitingUser)
	target := f.cands[0]
	br := newBrowser(t, exe)
	ctx, must, shot, text := br.ctx, br.must, br.shot, br.text

	must("sign in", chromedp.Do(ctx,
		chromedp.Navigate(b.ts.URL+"/candidates"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "u-sam_manager"),
		chromedp.SendKeys(chromedp.CSS("#password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("table#candidates"))))
	shot("reclaim-01-queue")
	must("filter on awaiting approval", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#f-state"), "awaiting_approval"),
		chromedp.Click(chromedp.CSS(`form[role="search"] button[type="submit"]`)),
		// The filtered page (not the one being left) has the option selected.
		chromedp.WaitReady(chromedp.CSS(`#f-state option[value="awaiting_approval"][selected]`)),
		chromedp.WaitNotPresent(chromedp.CSS(fmt.Sprintf("#sel-%d", f.cands[1].ID))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#sel-%d", target.ID)))))
	filtered := text("table#candidates tbody")
	must("tick the candidate and approve", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#sel-%d", target.ID))),
		chromedp.SetValue(chromedp.CSS("#b-action"), "approve"),
		chromedp.SendKeys(chromedp.CSS("#b-reason"), "needed for the audit season"),
		chromedp.Click(chromedp.CSS("#b-submit")),
		chromedp.WaitVisible(chromedp.CSS("p.flash[role=status]"))))
	flash := text("p.flash[role=status]")
	shot("reclaim-02-approved")
	must("open the candidate", chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/candidates/%d", b.ts.URL, target.ID)),
		chromedp.WaitVisible(chromedp.CSS("table#history"))))
	state, history := text("#state"), text("table#history")
	shot("reclaim-03-candidate")

	if !strings.Contains(filtered, target.UPN) || strings.Contains(filtered, f.cands[1].UPN) {
		t.Errorf("filtered queue: %q", filtered)
	}
	if !strings.Contains(flash, "approve: 1 done") {
		t.Errorf("flash %q", flash)
	}
	if state != "closed_skipped" || !strings.Contains(history, "user:u-sam_manager") || !strings.Contains(history, "needed for the audit season") {
		t.Errorf("candidate after approval: state %q, history %q", state, history)
	}
	c, err := b.st.Candidate(t.Context(), target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != store.StateClosedSkipped {
		t.Errorf("stored state %s, want closed_skipped", c.State)
	}
}
