// Package connecttest plays an administrator's browser through the
// simulator's sign-in and consent pages, for tests of delegated sign-in.
package connecttest

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/seatwise/seatwise/internal/mscloud/tenant"
)

// Browser opens a sign-in URL, posts each consent form of the simulator's
// sign-in page with Login and the answer of Answer, and follows redirects
// (to the loopback listener and on to the next consent) one by one.
type Browser struct {
	// HTTP sends the requests; it must trust the simulator's CA. Its
	// redirect policy is ignored: Browser follows redirects itself.
	HTTP *http.Client
	// Login is the user principal name typed into the sign-in form.
	Login string
	// Answer returns "accept" or "cancel" for the n-th consent (from 1);
	// nil accepts every consent.
	Answer func(n int) string
	// Rewrite, when set, may change a redirect to the loopback listener
	// before it is followed (a forged or replayed response).
	Rewrite func(location string) string
	// Consents counts the consent forms posted.
	Consents int
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	titleRE  = regexp.MustCompile(`<h1>([^<]*)</h1>`)
	msgRE    = regexp.MustCompile(`<p id="message">([^<]*)</p>`)
	errRE    = regexp.MustCompile(`<p (?:role="alert" )?id="error">([^<]*)</p>`)
)

// Run follows the sign-in from start until a page that is neither a
// redirect nor a consent form, and returns its title (h1) and message. An
// error is returned for a transport failure, an unexpected page or more
// than 50 steps.
func (b *Browser) Run(start string) (title, message string, err error) {
	c := *b.HTTP
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodGet, start, nil)
	if err != nil {
		return "", "", err
	}
	for range 50 {
		resp, err := c.Do(req)
		if err != nil {
			return "", "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusFound && loc != "" {
			if strings.HasPrefix(loc, "http://127.0.0.1") && b.Rewrite != nil {
				loc = b.Rewrite(loc)
			}
			if req, err = http.NewRequest(http.MethodGet, loc, nil); err != nil {
				return "", "", err
			}
			continue
		}
		page := string(body)
		if m := actionRE.FindStringSubmatch(page); m != nil {
			if e := errRE.FindStringSubmatch(page); e != nil {
				return "", "", fmt.Errorf("sign-in page: %s", html.UnescapeString(e[1]))
			}
			form := url.Values{}
			for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
				form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
			}
			form.Set("login", b.Login)
			b.Consents++
			answer := "accept"
			if b.Answer != nil {
				answer = b.Answer(b.Consents)
			}
			form.Set("consent", answer)
			if req, err = http.NewRequest(http.MethodPost, html.UnescapeString(m[1]), strings.NewReader(form.Encode())); err != nil {
				return "", "", err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			continue
		}
		t := titleRE.FindStringSubmatch(page)
		if t == nil {
			return "", "", fmt.Errorf("unexpected page (HTTP %d): %.300s", resp.StatusCode, page)
		}
		if m := msgRE.FindStringSubmatch(page); m != nil {
			return html.UnescapeString(t[1]), html.UnescapeString(m[1]), nil
		}
		if e := errRE.FindStringSubmatch(page); e != nil {
			return html.UnescapeString(t[1]), html.UnescapeString(e[1]), nil
		}
		return html.UnescapeString(t[1]), "", nil
	}
	return "", "", fmt.Errorf("more than 50 steps")
}

// Admin returns the user principal name of an enabled user of ten who has
// an enabled systemuser in every environment, so that a delegated sign-in
// as that user can read every environment.
func Admin(ten *tenant.Tenant) (string, error) {
	envs := len(ten.Environments())
	users, _, err := ten.UsersPage("", 1000, func(u *tenant.User) bool {
		if !u.AccountEnabled {
			return false
		}
		for e := range envs {
			if su, err := ten.SystemUserOf(e, u.ID); err != nil || su.IsDisabled {
				return false
			}
		}
		return true
	})
	if err != nil {
		return "", err
	}
	if len(users) == 0 {
		return "", fmt.Errorf("no enabled user has a systemuser in all %d environments", envs)
	}
	return users[0].UserPrincipalName, nil
}
