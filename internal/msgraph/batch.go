package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/seatwise/seatwise/internal/odata"
	"github.com/seatwise/seatwise/internal/sam"
)

// MaxBatch is the most requests one JSON $batch may carry.
const MaxBatch = 20

// BatchRequest is one request of a $batch. URL is relative to the Graph
// base ("/users/{id}/licenseDetails").
type BatchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// BatchResponse is the answer to one BatchRequest. Each item is throttled
// and fails on its own: check Status (or Err).
type BatchResponse struct {
	ID      string
	Status  int
	Headers http.Header
	Body    json.RawMessage
	method  string
	url     string
}

// Err returns nil for a 2xx item, else its error classified like any other
// Graph error (*sam.Error wrapping *odata.Error, Retry-After included).
func (r BatchResponse) Err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	return odata.ResponseError(odata.ServiceGraph, r.method, r.url, r.Status, r.Headers, r.Body)
}

// Batch sends up to MaxBatch requests as one POST /$batch and returns the
// answers in the order of reqs (Graph answers in any order). A batch of
// only GET requests is retried like a GET; otherwise only after answers that
// prove Graph did not act (429, 5xx). The error is about the batch as a
// whole; per-item failures are in the responses.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > MaxBatch {
		return nil, sam.Errorf(sam.EINVALID, "graph: a $batch carries at most %d requests, not %d", MaxBatch, len(reqs))
	}
	idx := make(map[string]int, len(reqs))
	readOnly := true
	for i, r := range reqs {
		if r.ID == "" || r.Method == "" || r.URL == "" {
			return nil, sam.Errorf(sam.EINVALID, "graph: $batch request %d needs an id, a method and a URL", i)
		}
		if _, dup := idx[r.ID]; dup {
			return nil, sam.Errorf(sam.EINVALID, "graph: $batch request id %q is used twice", r.ID)
		}
		idx[r.ID] = i
		readOnly = readOnly && strings.EqualFold(r.Method, http.MethodGet)
	}
	body, err := json.Marshal(struct {
		Requests []BatchRequest `json:"requests"`
	}{reqs})
	if err != nil {
		return nil, sam.Wrap(sam.EINVALID, err, "graph: encoding a $batch")
	}
	var wire struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	err = c.c.Send(ctx, &odata.Request{
		Method: http.MethodPost, URL: c.base + "/$batch", Body: body, ContentType: "application/json", Idempotent: readOnly,
		Decode: func(_ int, _ http.Header, b []byte) error { return json.Unmarshal(b, &wire) },
	})
	if err != nil {
		return nil, err
	}
	out := make([]BatchResponse, len(reqs))
	seen := make([]bool, len(reqs))
	for _, w := range wire.Responses {
		i, ok := idx[w.ID]
		if !ok || seen[i] {
			return nil, sam.Errorf(sam.EUNAVAILABLE, "graph: $batch answered an unknown or repeated request id %q", w.ID)
		}
		seen[i] = true
		h := http.Header{}
		for k, v := range w.Headers {
			h.Set(k, v)
		}
		out[i] = BatchResponse{ID: w.ID, Status: w.Status, Headers: h, Body: w.Body, method: reqs[i].Method, url: c.base + "/" + strings.TrimLeft(reqs[i].URL, "/")}
	}
	for i, ok := range seen {
		if !ok {
			return nil, sam.Errorf(sam.EUNAVAILABLE, "graph: $batch left request %q unanswered", reqs[i].ID)
		}
	}
	return out, nil
}

// LicenseDetailsOf returns the licence details of many users, MaxBatch
// users per $batch. Users Graph does not know (404) are left out of the
// map. An item Graph throttled or failed with a 5xx is fetched again on
// its own with the client's retry policy. Other failures (403, 400) end
// the call.
func (c *Client) LicenseDetailsOf(ctx context.Context, userIDs []string) (map[string][]LicenseDetails, error) {
	out := make(map[string][]LicenseDetails, len(userIDs))
	for start := 0; start < len(userIDs); start += MaxBatch {
		chunk := userIDs[start:min(start+MaxBatch, len(userIDs))]
		reqs := make([]BatchRequest, len(chunk))
		for i, id := range chunk {
			reqs[i] = BatchRequest{ID: strconv.Itoa(i + 1), Method: http.MethodGet, URL: "/users/" + url.PathEscape(id) + "/licenseDetails"}
		}
		resps, err := c.Batch(ctx, reqs)
		if err != nil {
			return nil, forbidden(err, "read licence details", "User.Read.All")
		}
		for i, r := range resps {
			id := chunk[i]
			var details []LicenseDetails
			switch {
			case r.Status >= 200 && r.Status < 300:
				details, err = c.batchLicenseDetails(ctx, r)
			case r.Status == http.StatusNotFound:
				continue
			case r.Status == http.StatusTooManyRequests || r.Status >= 500:
				details, err = c.LicenseDetails(ctx, id)
				if sam.IsCode(err, sam.ENOTFOUND) {
					continue
				}
			default:
				err = forbidden(r.Err(), "read licence details", "User.Read.All")
			}
			if err != nil {
				return nil, fmt.Errorf("licence details of user %s: %w", id, err)
			}
			out[sam.NormalizeGUID(id)] = details
		}
	}
	return out, nil
}

// batchLicenseDetails decodes a licenseDetails collection from a batch
// item, following a nextLink if Graph paged it.
func (c *Client) batchLicenseDetails(ctx context.Context, r BatchResponse) ([]LicenseDetails, error) {
	p, err := odata.DecodePageOf[wireLicenseDetails](r.url, r.Body)
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "graph: $batch item %s: malformed licenseDetails", r.ID)
	}
	var out []LicenseDetails
	add := func(ws []wireLicenseDetails) {
		for _, w := range ws {
			out = append(out, w.details())
		}
	}
	add(p.Value)
	if p.NextLink != "" {
		next, err := c.URL(p.NextLink)
		if err != nil {
			return nil, err
		}
		err = odata.PagesOf(ctx, c.c, next, nil, func(pg *odata.PageOf[wireLicenseDetails]) error { add(pg.Value); return nil })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
