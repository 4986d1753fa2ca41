package mscloud

import (
	"cmp"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

var maxPageRE = regexp.MustCompile(`odata\.maxpagesize\s*=\s*(\d+)`)

// preferMaxPage returns the odata.maxpagesize of a Prefer header, 0 if none.
func preferMaxPage(r *http.Request) int {
	for _, v := range r.Header.Values("Prefer") {
		if m := maxPageRE.FindStringSubmatch(v); m != nil {
			n, err := strconv.Atoi(m[1])
			if err == nil {
				return n
			}
		}
	}
	return 0
}

// delta serves GET /users/delta: a first round over every user (query
// options only on the first call, baked into the tokens), pages linked by
// $skiptoken, the last page carrying a $deltatoken deltaLink; a deltaLink
// returns exactly the users changed since it was issued (the tenant's
// change log), removed ones as {"id", "@removed": {"reason"}}.
func (g *graphCall) delta(_ []string) {
	q := g.r.URL.Query()
	t := g.tc.t
	var pt pageToken
	switch {
	case q.Get("$skiptoken") != "":
		var ok bool
		pt, ok = g.s.decodeToken(q.Get("$skiptoken"))
		if !ok || pt.Tenant != g.tc.id || (pt.Kind != "delta-init" && pt.Kind != "delta-changes") {
			g.error(http.StatusBadRequest, "syncStateNotFound", "The sync state is not valid: the $skiptoken was not issued by this service. Restart the synchronization without a token.")
			return
		}
	case q.Get("$deltatoken") != "":
		if q.Get("$deltatoken") == "latest" {
			pt = pageToken{Kind: "delta", Tenant: g.tc.id, Select: q.Get("$select"), Filter: q.Get("$filter"), Top: 100, Seq: t.Seq()}
			g.deltaPage(pt, nil, "")
			return
		}
		dt, ok := g.s.decodeToken(q.Get("$deltatoken"))
		if !ok || dt.Tenant != g.tc.id || dt.Kind != "delta" {
			g.error(http.StatusBadRequest, "syncStateNotFound", "The sync state is not valid: the $deltatoken was not issued by this service. Restart the synchronization without a token.")
			return
		}
		if t.Now().Sub(time.Unix(dt.Issued, 0)) > g.s.deltaLifetime() || dt.Seq > t.Seq() {
			g.error(http.StatusGone, "resyncRequired", "Resync required. The delta token has expired; replace local state with a full synchronization.")
			return
		}
		pt = dt
		pt.Kind = "delta-changes"
		pt.Upto = t.Seq()
		pt.After, pt.AfterS = "", 0
	default:
		for k := range q {
			if k != "$select" && k != "$filter" && k != "$top" && strings.HasPrefix(k, "$") {
				g.error(http.StatusBadRequest, "Request_UnsupportedQuery", "The query option '"+k+"' is not supported on users/delta.")
				return
			}
		}
		pt = pageToken{Kind: "delta-init", Tenant: g.tc.id, Select: q.Get("$select"), Filter: q.Get("$filter"), Top: 100, Upto: t.Seq()}
		if n := preferMaxPage(g.r); n > 0 {
			pt.Top = min(n, 999)
		}
		if v := q.Get("$top"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 999 {
				g.error(http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
				return
			}
			pt.Top = n
		}
	}
	sel, err := parseSelect(pt.Select, userProps, "user")
	if err != nil {
		g.error(http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	if len(sel) == 0 {
		sel = userDefaultProps
	}
	if slices.Contains(sel, "signInActivity") {
		g.error(http.StatusBadRequest, "Request_BadRequest", "Property 'signInActivity' is not supported for delta queries.")
		return
	}
	match, ferr := userMatcher(pt.Filter)
	if ferr != nil {
		g.error(http.StatusBadRequest, "Request_UnsupportedQuery", ferr.Error())
		return
	}
	var rows []any
	var nextTok string
	if pt.Kind == "delta-init" {
		users, next, err := t.UsersPage(pt.After, pt.Top, match)
		if err != nil {
			g.error(http.StatusBadRequest, "syncStateNotFound", "The sync state is not valid. Restart the synchronization without a token.")
			return
		}
		for i := range users {
			rows = append(rows, userJSON(&users[i], sel, false))
		}
		if next != "" {
			nt := pt
			nt.After = next
			nextTok = g.s.encodeToken(nt)
		}
	} else {
		changes, _ := t.ChangesAfter(pt.Seq)
		pending := changes[:0]
		for _, c := range changes {
			if c.Seq > pt.Upto || c.Seq < pt.AfterS || (c.Seq == pt.AfterS && c.UserID <= pt.After) {
				continue
			}
			pending = append(pending, c)
		}
		slices.SortFunc(pending, func(a, b tenant.UserChange) int {
			if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
				return c
			}
			return strings.Compare(a.UserID, b.UserID)
		})
		n := 0
		var last tenant.UserChange
		for _, c := range pending {
			if n == pt.Top {
				break
			}
			n++
			last = c
			if c.Removed != "" {
				rows = append(rows, obj{{"id", c.UserID}, {"@removed", obj{{"reason", c.Removed}}}})
				continue
			}
			u, err := t.User(c.UserID)
			if err != nil {
				continue // removed since; the next round reports it
			}
			if match != nil && !match(&u) {
				continue
			}
			rows = append(rows, userJSON(&u, sel, false))
		}
		if n < len(pending) {
			nt := pt
			nt.AfterS, nt.After = last.Seq, last.UserID
			nextTok = g.s.encodeToken(nt)
		}
	}
	g.deltaPage(pt, rows, nextTok)
}

// deltaPage writes one delta page: a nextLink when more follows, else a
// deltaLink for the changes after pt.Upto (or pt.Seq for "latest").
func (g *graphCall) deltaPage(pt pageToken, rows []any, nextTok string) {
	q := g.r.URL.Query()
	ctxURL := g.base + "/$metadata#users"
	if q.Get("$skiptoken") == "" && q.Get("$deltatoken") == "" && pt.Select != "" {
		if sel, err := parseSelect(pt.Select, userProps, "user"); err == nil {
			ctxURL += "(" + strings.Join(sel, ",") + ")"
		}
	}
	out := obj{{"@odata.context", ctxURL}}
	if nextTok != "" {
		out = out.add("@odata.nextLink", g.base+"/users/delta?$skiptoken="+nextTok)
	} else {
		seq := pt.Upto
		if pt.Kind == "delta" {
			seq = pt.Seq
		}
		dt := pageToken{Kind: "delta", Tenant: g.tc.id, Select: pt.Select, Filter: pt.Filter, Top: pt.Top, Seq: seq, Issued: g.tc.t.Now().Unix()}
		out = out.add("@odata.deltaLink", g.base+"/users/delta?$deltatoken="+g.s.encodeToken(dt))
	}
	if rows == nil {
		rows = []any{}
	}
	out = out.add("value", rows)
	g.json(http.StatusOK, out)
}
