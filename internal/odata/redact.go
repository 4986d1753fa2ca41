package odata

import (
	"net/url"
	"strings"
)

// secretParams are query parameters whose values are credentials.
var secretParams = []string{
	"client_secret", "client_assertion", "access_token", "refresh_token", "id_token",
	"code", "code_verifier", "password", "sig", "signature", "secret", "api-key", "apikey", "key",
}

// maxTokenShown is how much of an opaque paging token ($skiptoken,
// $deltatoken) RedactURL keeps; they are not credentials but can be
// kilobytes long.
const maxTokenShown = 16

// RedactURL returns u for use in errors and logs: user info removed, values
// of credential parameters (client_secret, access_token, code, sig, ...)
// replaced by "REDACTED", and long $skiptoken/$deltatoken values shortened.
// A string that does not parse as a URL is reduced to its path-less prefix.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i] + "?REDACTED"
		}
		return u
	}
	p.User = nil
	p.Fragment = ""
	if p.RawQuery == "" {
		return p.String()
	}
	q, err := url.ParseQuery(p.RawQuery)
	if err != nil {
		p.RawQuery = "REDACTED"
		return p.String()
	}
	changed := false
	parts := strings.Split(p.RawQuery, "&")
	for i, part := range parts {
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		lname := strings.ToLower(name)
		switch {
		case isSecretParam(lname):
			parts[i] = k + "=REDACTED"
			changed = true
		case (lname == "$skiptoken" || lname == "$deltatoken") && len(v) > maxTokenShown:
			parts[i] = k + "=" + v[:maxTokenShown] + "..."
			changed = true
		}
	}
	_ = q
	if changed {
		p.RawQuery = strings.Join(parts, "&")
	}
	return p.String()
}

func isSecretParam(name string) bool {
	for _, s := range secretParams {
		if name == s {
			return true
		}
	}
	return strings.Contains(name, "secret") || strings.Contains(name, "password") ||
		(strings.Contains(name, "token") && name != "$skiptoken" && name != "$deltatoken")
}
