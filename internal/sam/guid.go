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
	if g, ok := parseCanonicalGUID(s); ok {
		return g, true
	}
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

// guidHexAt are the offsets of the 16 hex pairs of a GUID's 36-character
// form.
var guidHexAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexNibble maps a hex digit (either case) to its value, anything else to
// 0xff.
var hexNibble = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = uint8(c-'a') + 10
		t[c-'a'+'A'] = uint8(c-'a') + 10
	}
	return t
}()

// parseCanonicalGUID is ParseGUID's fast way for the form activity and
// evidence come in (36 characters, dashes in place, no braces or spaces):
// a table lookup per digit instead of validating, copying and decoding.
func parseCanonicalGUID(s string) (GUID, bool) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	for i, at := range guidHexAt {
		hi, lo := hexNibble[s[at]], hexNibble[s[at+1]]
		if hi > 15 || lo > 15 {
			return g, false
		}
		g[i] = hi<<4 | lo
	}
	return g, true
}
