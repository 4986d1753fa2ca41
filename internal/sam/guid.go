package sam

import (
	"encoding/hex"
	"strings"
)

// GUID is a GUID's 16 bytes in the order of its text: half the size of
// the text, comparable, and without a pointer for the garbage collector.
type GUID [16]byte

// ParseGUID reads a GUID in 8-4-4-4-12 hex form, in either case, trimmed of
// spaces and braces as NormalizeGUID trims them; false for anything else.
// It allocates nothing.
func ParseGUID(s string) (GUID, bool) {
	var g GUID
	if !ValidGUID(s) { // the common case is already in form; else trim as NormalizeGUID does
		s = strings.TrimSpace(strings.Trim(s, "{}"))
	}
	if !ValidGUID(s) {
		return g, false
	}
	var buf [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			buf[n] = s[i]
			n++
		}
	}
	if _, err := hex.Decode(g[:], buf[:]); err != nil {
		return g, false
	}
	return g, true
}

// String returns g in lower-case 8-4-4-4-12 form, the form NormalizeGUID
// gives.
func (g GUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}
