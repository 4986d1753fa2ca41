package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/notify"
	"github.com/seatwise/seatwise/internal/reclaim"
	"github.com/seatwise/seatwise/internal/sam"
	"github.com/seatwise/seatwise/internal/store"
)

// The keep / release / approve / deny pages behind the signed links of
// notifications. No sign-in is needed: the token is the authority. GET only
// shows what the link will do (mail scanners open links), POST does it. A
// link works once: its nonce is written into the transition's reason, and
// a candidate that moved on refuses the action anyway.

// linkView is what link.html shows.
type linkView struct {
	Token     string
	Action    string
	Button    string
	Question  string
	Candidate *store.Candidate
	Product   string
	Expires   time.Time
	Done      string // after the action: what happened, in words
	Problem   string // why nothing can be done, in words
}

// linkToken is the token of the request: parameter t of the query (GET)
// or of the form (POST). It is never logged: the server logs paths only.
func linkToken(r *http.Request) string { return r.FormValue("t") }

// linkNote marks a transition made through the link with this nonce.
func linkNote(nonce string) string { return "(signed link " + nonce + ")" }

var linkButtons = map[string][2]string{
	reclaim.ActionKeep:    {"Keep my licence", "Do you still need this licence? Keeping it asks for approval where the rule requires it."},
	reclaim.ActionRelease: {"Release the licence", "Release this licence so that it can be reclaimed and used by someone else?"},
	reclaim.ActionApprove: {"Approve: the user keeps the licence", "Let this user keep the licence?"},
	reclaim.ActionDeny:    {"Deny: reclaim the licence", "Refuse the request: the licence is reclaimed?"},
}

// linkState says which state an action needs.
func linkState(action string) store.CandidateState {
	if action == reclaim.ActionApprove || action == reclaim.ActionDeny {
		return store.StateAwaitingApproval
	}
	return store.StateAwaitingUser
}

// stateWords says a candidate's state to someone outside Seatwise.
func stateWords(c *store.Candidate) string {
	switch c.State {
	case store.StateAwaitingUser:
		return "waiting for the user's answer"
	case store.StateAwaitingApproval:
		return "waiting for approval"
	case store.StateAwaitingRevocation:
		return "going to be reclaimed"
	case store.StateClosedComplete:
		return "closed: the licence was removed"
	case store.StateClosedSkipped:
		return "closed: the user keeps the licence"
	case store.StateClosedCanceled:
		return "closed: no longer a candidate"
	case store.StateAttention:
		return "with a licence administrator"
	}
	return string(c.State)
}

// checkLink verifies the token and the candidate; v.Problem says plainly
// why the link cannot be used (with the status to answer), otherwise the
// claims are returned.
func (s *Server) checkLink(r *http.Request, v *linkView) (notify.Claims, int) {
	links, err := notify.NewLinks(s.cfg.Keyring)
	if err != nil {
		v.Problem = "Links cannot be checked: this Seatwise server has no secret key configured."
		return notify.Claims{}, http.StatusServiceUnavailable
	}
	claims, err := links.Verify(linkToken(r), s.now())
	switch {
	case errors.Is(err, notify.ErrExpired):
		v.Problem = fmt.Sprintf("This link expired on %s. It can no longer be used; if you still need to answer, contact your licence administrator.",
			claims.Expires.UTC().Format("2 January 2006 at 15:04 UTC"))
		return claims, http.StatusGone
	case err != nil:
		v.Problem = "This link is not valid: it may have been cut or altered on the way, or it does not come from this Seatwise server. Open the link from the message again, or contact your licence administrator."
		return claims, http.StatusBadRequest
	}
	v.Action, v.Expires = claims.Action, claims.Expires
	b := linkButtons[claims.Action]
	v.Button, v.Question = b[0], b[1]
	c, trs, err := s.reclaimEngine().Candidate(r.Context(), claims.CandidateID)
	if sam.IsCode(err, sam.ENOTFOUND) {
		v.Problem = "This licence review no longer exists. Nothing needs to be done."
		return claims, http.StatusNotFound
	}
	if err != nil {
		v.Problem = "The licence review cannot be read right now: " + sam.ErrorMessage(err) + ". Try again later."
		return claims, sam.HTTPStatus(err)
	}
	v.Candidate = c
	v.Product, _ = s.modelNames(c.SKUID)
	if v.Product == "" {
		v.Product = c.SKUID
	}
	note := linkNote(claims.Nonce)
	for _, t := range trs {
		if strings.Contains(t.Reason, note) {
			v.Problem = fmt.Sprintf("This link was already used on %s. A link works once; the review is now %s.",
				t.At.UTC().Format("2 January 2006 at 15:04 UTC"), stateWords(c))
			return claims, http.StatusConflict
		}
	}
	if c.State != linkState(claims.Action) {
		v.Problem = fmt.Sprintf("Nothing to do: this licence review is %s.", stateWords(c))
		return claims, http.StatusConflict
	}
	return claims, http.StatusOK
}

func (s *Server) renderLink(w http.ResponseWriter, r *http.Request, status int, v *linkView) error {
	v.Token = linkToken(r)
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	return s.render(w, r, status, "link.html", page{Title: "Licence review", Data: v})
}

func uiLink(s *Server, w http.ResponseWriter, r *http.Request) error {
	var v linkView
	_, status := s.checkLink(r, &v)
	return s.renderLink(w, r, status, &v)
}

func uiLinkPost(s *Server, w http.ResponseWriter, r *http.Request) error {
	var v linkView
	claims, status := s.checkLink(r, &v)
	if v.Problem != "" {
		return s.renderLink(w, r, status, &v)
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if len(reason) > 500 {
		reason = reason[:500]
	}
	if reason != "" {
		reason += " "
	}
	reason += linkNote(claims.Nonce)
	e := s.reclaimEngine()
	who := "link:" + claims.Recipient
	var c *store.Candidate
	var err error
	switch claims.Action {
	case reclaim.ActionKeep:
		c, err = e.Keep(r.Context(), claims.CandidateID, who, reason)
	case reclaim.ActionRelease:
		c, err = e.Release(r.Context(), claims.CandidateID, who, reason)
	case reclaim.ActionApprove:
		c, err = e.Approve(r.Context(), claims.CandidateID, who, reason)
	case reclaim.ActionDeny:
		c, err = e.Deny(r.Context(), claims.CandidateID, who, reason)
	}
	if sam.IsCode(err, sam.ECONFLICT) {
		// Someone acted first (or a change is in flight): say what it is now.
		if cur, _, rerr := e.Candidate(r.Context(), claims.CandidateID); rerr == nil {
			v.Candidate = cur
			v.Problem = fmt.Sprintf("Nothing was changed: this licence review is %s.", stateWords(cur))
		} else {
			v.Problem = "Nothing was changed: " + sam.ErrorMessage(err)
		}
		return s.renderLink(w, r, http.StatusConflict, &v)
	}
	if err != nil {
		if code := sam.ErrorCode(err); code == sam.EINTERNAL {
			return err
		}
		v.Problem = "Your answer could not be recorded: " + sam.ErrorMessage(err) + ". Try again later, or contact your licence administrator."
		return s.renderLink(w, r, sam.HTTPStatus(err), &v)
	}
	v.Candidate = c
	switch {
	case claims.Action == reclaim.ActionKeep && c.State == store.StateAwaitingApproval:
		v.Done = "Thank you: you asked to keep the licence. Your request went for approval; you keep the licence meanwhile."
	case claims.Action == reclaim.ActionKeep && c.State == store.StateClosedSkipped:
		v.Done = "Thank you: you keep the licence."
	case claims.Action == reclaim.ActionKeep:
		v.Done = "Thank you: you asked to keep the licence. A licence administrator will look at the request: " + c.Message
	case claims.Action == reclaim.ActionRelease:
		v.Done = "Thank you: the licence is released and will be removed shortly."
	case claims.Action == reclaim.ActionApprove:
		v.Done = "Approved: the user keeps the licence."
	case claims.Action == reclaim.ActionDeny:
		v.Done = "Denied: the licence will be reclaimed."
	}
	return s.renderLink(w, r, http.StatusOK, &v)
}

func (s *Server) linkRoutes() []*Route {
	return []*Route{
		{Method: "GET", Path: "/link", Access: public, Tag: "ui", Query: []Param{{Name: "t", Type: "string", Doc: "the link's token"}},
			Summary: "Keep / release / approve / deny page of a signed notification link (the token is the authority)", Handler: uiLink},
		{Method: "POST", Path: "/link", Access: public, Tag: "ui",
			Summary: "Answer through a signed notification link (works once, until it expires)", Handler: uiLinkPost},
	}
}
