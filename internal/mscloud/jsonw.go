package mscloud

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// obj is a JSON object that keeps its key order, as Microsoft's services
// do (annotations before values, @odata.nextLink before or after value).
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) add(k string, v any) obj { return append(o, kv{k, v}) }

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) { return appendJSON(nil, o), nil }

// bufPool recycles response buffers; pages are large (a 999-user Graph
// page with licences is several MB) and built once per request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// marshalTo encodes v into a pooled buffer and passes it to write; the
// buffer is recycled afterwards, so write must not keep it.
func marshalTo(v any, write func([]byte)) {
	bp := bufPool.Get().(*[]byte)
	b := appendJSON((*bp)[:0], v)
	write(b)
	if cap(b) <= 32<<20 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
}

// appender writes its own JSON value into b; large collections use it to
// skip the intermediate tree.
type appender func(b []byte) []byte

// rawJSON is inserted verbatim.
type rawJSON []byte

// appendJSON appends v's JSON. It handles the simulator's value types
// without reflection and falls back to encoding/json for anything else.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case time.Time:
		return appendString(b, x.UTC().Format(time.RFC3339))
	case []string:
		return appendArray(b, x, appendString)
	case obj:
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.k)
			b = append(b, ':')
			b = appendJSON(b, m.v)
		}
		return append(b, '}')
	case []obj:
		return appendArray(b, x, func(b []byte, o obj) []byte { return appendJSON(b, o) })
	case []any:
		return appendArray(b, x, appendJSON)
	case rawJSON:
		return append(b, x...)
	case appender:
		return x(b)
	case userRows:
		b = append(b, '[')
		for i := range x.users {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUser(b, &x.users[i], x.sel, false)
		}
		return append(b, ']')
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, j...)
	}
}

// appendArray appends the JSON array of xs, each element written by elem.
func appendArray[T any](b []byte, xs []T, elem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, x)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
