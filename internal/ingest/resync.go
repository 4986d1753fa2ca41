package ingest

import (
	"net/http"
	"strings"

	"github.com/seatwise/seatwise/internal/msgraph"
	"github.com/seatwise/seatwise/internal/odata"
)

// resyncCodes are the Graph error codes that mean a paging or delta link is
// no longer accepted and the listing must start again.
var resyncCodes = []string{"resyncRequired", "syncStateNotFound", "syncStateInvalid", "Directory_ExpiredPageToken", "InvalidSkipToken", "invalidSkipToken"}

// IsResync reports whether err means Graph rejected a paging or delta link
// (expired skip token, delta token too old, resync required): the run must
// start again from scratch, as a full listing.
func IsResync(err error) bool {
	if msgraph.IsResync(err) {
		return true
	}
	e, ok := odata.AsError(err)
	if !ok {
		return false
	}
	if e.Status == http.StatusGone {
		return true
	}
	for _, c := range resyncCodes {
		if strings.EqualFold(e.Code, c) {
			return true
		}
	}
	return false
}
