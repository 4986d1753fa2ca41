package odata

import (
	"context"
	"log/slog"
	"time"
)

// Token is an OAuth 2.0 bearer access token. Its String, GoString and
// LogValue methods never reveal AccessToken, so a Token printed or logged by
// mistake leaks nothing.
type Token struct {
	AccessToken string
	// ExpiresAt is when the service stops accepting the token; zero means
	// unknown (the token is used until a 401).
	ExpiresAt time.Time
}

// String returns a redacted description of the token.
func (t Token) String() string {
	if t.AccessToken == "" {
		return "odata.Token(empty)"
	}
	if t.ExpiresAt.IsZero() {
		return "odata.Token(REDACTED)"
	}
	return "odata.Token(REDACTED, expires " + t.ExpiresAt.UTC().Format(time.RFC3339) + ")"
}

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// LogValue is String, for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// TokenSource supplies access tokens for one resource (Graph, or one
// Dataverse environment). It is defined here, where it is consumed, so that
// app-only (client credentials, see package entra) and delegated (refresh
// token) sign-in plug into the same clients.
//
// Token returns a token valid for at least a short while, refreshing it when
// needed; concurrent callers should share one refresh. Its errors are
// returned unchanged by the Client, so they should already be classified
// (*sam.Error, e.g. EUNAUTHORIZED for a rejected secret).
//
// Invalidate is called when the service answered 401 to a request that
// carried rejected; the source must not hand out that token again. A source
// must ignore an Invalidate for a token it has already replaced, so that many
// requests failing at once cause one refresh, not many.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
	Invalidate(rejected Token)
}

// StaticToken returns a TokenSource that always returns accessToken, for
// tests and for tokens obtained elsewhere. Invalidate has no effect, so a 401
// is retried once with the same token and then returned.
func StaticToken(accessToken string) TokenSource { return staticToken{Token{AccessToken: accessToken}} }

type staticToken struct{ t Token }

func (s staticToken) Token(context.Context) (Token, error) { return s.t, nil }
func (s staticToken) Invalidate(Token)                     {}
