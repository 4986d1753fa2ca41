package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/seatwise/seatwise/internal/sam"
)

// Page is one decoded page of an OData collection. Only one page is held in
// memory at a time: Pages decodes the next page after fn returned.
type Page struct {
	// URL is the URL the page was fetched from; resuming a listing from it
	// fetches this page again.
	URL string
	// Context is @odata.context, "" when absent.
	Context string
	// Value holds the raw items of "value", in order; each is a complete
	// JSON value (an object for entity collections).
	Value []json.RawMessage
	// NextLink is @odata.nextLink resolved to an absolute URL, "" on the
	// last page. Checkpoint it to resume after this page.
	NextLink string
	// DeltaLink is @odata.deltaLink (Graph delta queries, last page only).
	DeltaLink string
	// Count is @odata.count when the service sent it ($count=true).
	Count *int64
	// Header is the response header (Preference-Applied, request-id, ...).
	Header http.Header
}

// PageOf is a collection page whose items are decoded into T in the same
// pass as the envelope (see GetPageOf).
type PageOf[T any] struct {
	URL       string
	Context   string
	Value     []T
	NextLink  string
	DeltaLink string
	Count     *int64
	Header    http.Header
}

// envelope is the wire form of a collection page. Unknown members
// (annotations such as @Microsoft.Dynamics.CRM.totalrecordcount) are ignored.
type envelope[T any] struct {
	Context   string `json:"@odata.context"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
	Count     *int64 `json:"@odata.count"`
	Value     *[]*T  `json:"value"`
}

// DecodePage decodes a collection response body fetched from pageURL. It
// fails, without returning a partial page, when the body is not one JSON
// object, has no "value" array, has a null item, or a link does not parse.
// Relative links are resolved against pageURL.
func DecodePage(pageURL string, body []byte) (*Page, error) {
	p, err := DecodePageOf[json.RawMessage](pageURL, body)
	if err != nil {
		return nil, err
	}
	return &Page{URL: p.URL, Context: p.Context, Value: p.Value, NextLink: p.NextLink, DeltaLink: p.DeltaLink, Count: p.Count}, nil
}

// DecodePageOf is DecodePage with the items decoded into T in one pass; an
// item that does not decode into T fails the page.
func DecodePageOf[T any](pageURL string, body []byte) (*PageOf[T], error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("collection response is not a JSON object")
	}
	var env envelope[T]
	// Unmarshal (unlike a Decoder) works on body in place and rejects
	// trailing data after the object.
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	if env.Value == nil {
		return nil, errors.New(`collection response has no "value" array`)
	}
	p := &PageOf[T]{URL: pageURL, Context: env.Context, Count: env.Count, Value: make([]T, len(*env.Value))}
	for i, v := range *env.Value {
		if v == nil {
			return nil, fmt.Errorf("value[%d] is null", i)
		}
		p.Value[i] = *v
	}
	var err error
	if p.NextLink, err = resolveLink(pageURL, env.NextLink); err != nil {
		return nil, fmt.Errorf("@odata.nextLink: %w", err)
	}
	if p.DeltaLink, err = resolveLink(pageURL, env.DeltaLink); err != nil {
		return nil, fmt.Errorf("@odata.deltaLink: %w", err)
	}
	return p, nil
}

func resolveLink(base, link string) (string, error) {
	link = strings.TrimSpace(link)
	if link == "" {
		return "", nil
	}
	l, err := url.Parse(link)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if l.IsAbs() {
		return link, nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", errors.New("relative link on an unparsable page URL")
	}
	return b.ResolveReference(l).String(), nil
}

// GetPage fetches and decodes one collection page. header is sent with the
// request (Dataverse needs its Prefer header on every page). A body that does
// not decode is retried like a dropped connection; it is never half-used.
// A link that leads to another host than pageURL's is refused (EINVALID), so
// a forged nextLink cannot receive the token.
func (c *Client) GetPage(ctx context.Context, pageURL string, header http.Header) (*Page, error) {
	p, err := GetPageOf[json.RawMessage](ctx, c, pageURL, header)
	if err != nil {
		return nil, err
	}
	return &Page{URL: p.URL, Context: p.Context, Value: p.Value, NextLink: p.NextLink, DeltaLink: p.DeltaLink, Count: p.Count, Header: p.Header}, nil
}

// GetPageOf is GetPage with the items decoded into T while the page is
// read: an item that does not decode counts as a malformed response and the
// page is fetched again (up to the retry limits), never half-used.
func GetPageOf[T any](ctx context.Context, c *Client, pageURL string, header http.Header) (*PageOf[T], error) {
	var p *PageOf[T]
	err := c.Send(ctx, &Request{
		Method: http.MethodGet, URL: pageURL, Header: header, Idempotent: true,
		Decode: func(_ int, h http.Header, body []byte) error {
			pg, err := DecodePageOf[T](pageURL, body)
			if err != nil {
				return err
			}
			pg.Header = h
			p = pg
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	for _, link := range []string{p.NextLink, p.DeltaLink} {
		if link != "" && !SameHost(pageURL, link) {
			return nil, sam.Errorf(sam.EINVALID, "%s: GET %s: the service returned a link to another host (%s); refusing to follow it",
				c.cfg.Service, RedactURL(pageURL), RedactURL(link))
		}
	}
	return p, nil
}

// PagesOf is Pages with items decoded into T (see GetPageOf).
func PagesOf[T any](ctx context.Context, c *Client, startURL string, header http.Header, fn func(p *PageOf[T]) error) error {
	next := startURL
	for next != "" {
		p, err := GetPageOf[T](ctx, c, next, header)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.NextLink == next {
			return sam.Errorf(sam.EUNAVAILABLE, "%s: GET %s: the service returned the same page link again", c.cfg.Service, RedactURL(next))
		}
		next = p.NextLink
	}
	return nil
}

// Pages fetches the collection at startURL page by page, calling fn with
// each page before fetching the next, until a page has no NextLink. Memory
// does not grow with the number of pages. fn may return an error to stop;
// Pages returns it unchanged. A service that answers a page with its own URL
// as NextLink is an error (EUNAVAILABLE), not an endless loop.
func (c *Client) Pages(ctx context.Context, startURL string, header http.Header, fn func(p *Page) error) error {
	return PagesOf(ctx, c, startURL, header, func(p *PageOf[json.RawMessage]) error {
		return fn(&Page{URL: p.URL, Context: p.Context, Value: p.Value, NextLink: p.NextLink, DeltaLink: p.DeltaLink, Count: p.Count, Header: p.Header})
	})
}

// DecodeValue decodes every item of p.Value into a T. The first item that
// does not decode fails the whole page (the item's index is in the error).
func DecodeValue[T any](p *Page) ([]T, error) {
	out := make([]T, len(p.Value))
	for i, raw := range p.Value {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("value[%d]: %w", i, err)
		}
	}
	return out, nil
}

// SameHost reports whether two absolute URLs have the same scheme and host
// (case-insensitive).
func SameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}
