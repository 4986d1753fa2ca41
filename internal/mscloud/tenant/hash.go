package tenant

import "github.com/seatwise/seatwise/internal/sam"

// mix is splitmix64's finaliser: a fast, well-spread 64-bit hash step.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// hashOf combines values into one well-spread hash.
func hashOf(vals ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		h = mix(h ^ v)
	}
	return h
}

// rng is a tiny deterministic generator (splitmix64) for one derivation.
type rng struct{ s uint64 }

func newRNG(vals ...uint64) rng { return rng{s: hashOf(vals...)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a value in [0, n); n <= 0 gives 0.
func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// between returns a value in [lo, hi).
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo) }

// guid is a GUID as 16 bytes, rendered in byte order so that the string
// order equals the byte order.
type guid = sam.GUID

// parseGUID parses an 8-4-4-4-12 GUID in either case, with optional braces.
func parseGUID(s string) (guid, bool) { return sam.ParseGUID(s) }

// guidFrom derives a random-looking version 4 GUID from hash inputs.
func guidFrom(vals ...uint64) guid {
	a := hashOf(vals...)
	b := mix(a ^ 0x5851f42d4c957f2d)
	var g guid
	for i := 0; i < 8; i++ {
		g[i] = byte(a >> (8 * i))
		g[8+i] = byte(b >> (8 * i))
	}
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// feistel is a keyed bijection on uint64 (four rounds on 32-bit halves),
// used to derive systemuserids that decode back to a user.
func feistel(x, key uint64) uint64 {
	l, r := uint32(x>>32), uint32(x)
	for i := uint64(0); i < 4; i++ {
		l, r = r, l^uint32(mix(uint64(r)^key^(i<<56)))
	}
	return uint64(l)<<32 | uint64(r)
}

func unfeistel(y, key uint64) uint64 {
	l, r := uint32(y>>32), uint32(y)
	for i := int64(3); i >= 0; i-- {
		l, r = r^uint32(mix(uint64(l)^key^(uint64(i)<<56))), l
	}
	return uint64(l)<<32 | uint64(r)
}
