package mscloud

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file is a small, real OData v4 $filter parser for the grammar the
// simulator serves: and/or/not, parentheses, eq/ne/gt/ge/lt/le, in (...),
// startswith/endswith/contains, and one-level any() lambdas
// (assignedLicenses/any(x:x/skuId eq GUID)). Literals: integers and
// decimals, 'strings' ('' escapes a quote), GUIDs, dates and date-times,
// true/false/null. Anything else is a *filterError naming the problem.

// edmType is the type of a filterable property or literal.
type edmType int

const (
	edmNull edmType = iota
	edmInt
	edmDecimal
	edmString
	edmGUID
	edmDateTime
	edmBool
	edmCollection // a collection of complex values, only usable with any()
)

func (t edmType) String() string {
	return [...]string{"null", "Edm.Int32", "Edm.Decimal", "Edm.String", "Edm.Guid", "Edm.DateTimeOffset", "Edm.Boolean", "Collection"}[t]
}

// filterError is a $filter the parser or type checker rejects.
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

func ferr(format string, a ...any) error { return &filterError{fmt.Sprintf(format, a...)} }

type literal struct {
	typ edmType
	s   string    // strings and GUIDs (GUIDs lower case)
	n   float64   // numbers
	t   time.Time // date-times
	b   bool
}

func (l literal) String() string {
	switch l.typ {
	case edmString:
		return "'" + strings.ReplaceAll(l.s, "'", "''") + "'"
	case edmGUID:
		return l.s
	case edmInt, edmDecimal:
		return strconv.FormatFloat(l.n, 'f', -1, 64)
	case edmDateTime:
		return l.t.UTC().Format(time.RFC3339Nano)
	case edmBool:
		return strconv.FormatBool(l.b)
	}
	return "null"
}

// filterExpr is a node of a parsed filter.
type filterExpr interface{ node() }

type (
	logicalExpr struct {
		op   string // and, or
		l, r filterExpr
	}
	notExpr     struct{ x filterExpr }
	compareExpr struct {
		prop string
		op   string // eq ne gt ge lt le
		lit  literal
	}
	inExpr struct {
		prop string
		lits []literal
	}
	funcExpr struct {
		name string // startswith endswith contains
		prop string
		arg  literal
	}
	anyExpr struct {
		prop string
		v    string
		body filterExpr // properties inside are relative to the element
	}
)

func (logicalExpr) node() {}
func (notExpr) node()     {}
func (compareExpr) node() {}
func (inExpr) node()      {}
func (funcExpr) node()    {}
func (anyExpr) node()     {}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tGUID
	tDateTime
	tLParen
	tRParen
	tComma
	tColon
)

type token struct {
	kind tokKind
	text string
	pos  int
}

var (
	reGUID     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?`)
	reNumber   = regexp.MustCompile(`^-?\d+(\.\d+)?([eE][+-]?\d+)?`)
	reIdent    = regexp.MustCompile(`^[A-Za-z_$@][A-Za-z0-9_./@$]*`)
)

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.'
}

func lexFilter(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
			continue
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
			continue
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
			continue
		case c == ':':
			out = append(out, token{tColon, ":", i})
			i++
			continue
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, ferr("Syntax error: unterminated string literal at position %d in '%s'.", i, s)
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
			continue
		}
		rest := s[i:]
		if m := reGUID.FindString(rest); m != "" && (len(m) == len(rest) || !isWordByte(rest[len(m)])) {
			out = append(out, token{tGUID, m, i})
			i += len(m)
			continue
		}
		if m := reDateTime.FindString(rest); m != "" && len(m) >= 10 && (len(m) == len(rest) || !isWordByte(rest[len(m)])) {
			out = append(out, token{tDateTime, m, i})
			i += len(m)
			continue
		}
		if m := reNumber.FindString(rest); m != "" && (len(m) == len(rest) || !isWordByte(rest[len(m)])) {
			out = append(out, token{tNumber, m, i})
			i += len(m)
			continue
		}
		if m := reIdent.FindString(rest); m != "" {
			out = append(out, token{tIdent, m, i})
			i += len(m)
			continue
		}
		return nil, ferr("Syntax error: character '%c' is not valid at position %d in '%s'.", c, i, s)
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

type filterParser struct {
	src   string
	toks  []token
	i     int
	depth int
	vars  map[string]bool
}

// parseFilter parses an OData $filter expression.
func parseFilter(s string) (filterExpr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, ferr("The $filter expression must not be empty.")
	}
	if len(s) > 8000 {
		return nil, ferr("The $filter expression is too long.")
	}
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: s, toks: toks, vars: map[string]bool{}}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, ferr("Syntax error at position %d in '%s'.", t.pos, s)
	}
	return e, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *filterParser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == kw
}

func (p *filterParser) or() (filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = logicalExpr{"or", l, r}
	}
	return l, nil
}

func (p *filterParser) and() (filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = logicalExpr{"and", l, r}
	}
	return l, nil
}

func (p *filterParser) unary() (filterExpr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return nil, ferr("The $filter expression is nested too deeply.")
	}
	if p.isKeyword("not") {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	}
	return p.primary()
}

var compareOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *filterParser) primary() (filterExpr, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, ferr("Syntax error: ')' expected at position %d in '%s'.", p.peek().pos, p.src)
		}
		return e, nil
	case tIdent:
	default:
		return nil, ferr("Syntax error: property name expected at position %d in '%s'.", t.pos, p.src)
	}
	name := t.text
	switch name {
	case "startswith", "endswith", "contains":
		return p.function(name)
	case "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "true", "false", "null":
		return nil, ferr("Syntax error: unexpected '%s' at position %d in '%s'.", name, t.pos, p.src)
	}
	if p.peek().kind == tLParen {
		if strings.HasSuffix(name, "/any") || strings.HasSuffix(name, "/all") {
			return p.lambda(name, t.pos)
		}
		return nil, ferr("An unknown function with name '%s' was found.", name)
	}
	prop, err := p.property(name, t.pos)
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != tIdent {
		return nil, ferr("Syntax error: operator expected after '%s' at position %d in '%s'.", name, op.pos, p.src)
	}
	if op.text == "in" {
		if p.next().kind != tLParen {
			return nil, ferr("Syntax error: '(' expected after 'in' in '%s'.", p.src)
		}
		var lits []literal
		for {
			l, err := p.literal()
			if err != nil {
				return nil, err
			}
			lits = append(lits, l)
			n := p.next()
			if n.kind == tRParen {
				break
			}
			if n.kind != tComma {
				return nil, ferr("Syntax error: ',' or ')' expected at position %d in '%s'.", n.pos, p.src)
			}
		}
		return inExpr{prop, lits}, nil
	}
	if !compareOps[op.text] {
		return nil, ferr("Syntax error: unknown operator '%s' at position %d in '%s'.", op.text, op.pos, p.src)
	}
	l, err := p.literal()
	if err != nil {
		return nil, err
	}
	return compareExpr{prop, op.text, l}, nil
}

// property checks a property path; inside a lambda, "x/name" becomes "name".
func (p *filterParser) property(name string, pos int) (string, error) {
	if i := strings.Index(name, "/"); i >= 0 {
		if p.vars[name[:i]] && !strings.Contains(name[i+1:], "/") {
			return name[i+1:], nil
		}
		return "", ferr("The property path '%s' at position %d is not supported.", name, pos)
	}
	return name, nil
}

func (p *filterParser) function(name string) (filterExpr, error) {
	if p.next().kind != tLParen {
		return nil, ferr("Syntax error: '(' expected after '%s' in '%s'.", name, p.src)
	}
	t := p.next()
	if t.kind != tIdent {
		return nil, ferr("Syntax error: property expected as the first argument of '%s' in '%s'.", name, p.src)
	}
	prop, err := p.property(t.text, t.pos)
	if err != nil {
		return nil, err
	}
	if p.next().kind != tComma {
		return nil, ferr("Syntax error: ',' expected in '%s' call in '%s'.", name, p.src)
	}
	arg, err := p.literal()
	if err != nil {
		return nil, err
	}
	if arg.typ != edmString {
		return nil, ferr("The second argument of '%s' must be a string literal.", name)
	}
	if p.next().kind != tRParen {
		return nil, ferr("Syntax error: ')' expected in '%s' call in '%s'.", name, p.src)
	}
	return funcExpr{name, prop, arg}, nil
}

func (p *filterParser) lambda(name string, pos int) (filterExpr, error) {
	if strings.HasSuffix(name, "/all") {
		return nil, ferr("The lambda operator 'all' is not supported.")
	}
	coll := strings.TrimSuffix(name, "/any")
	if strings.Contains(coll, "/") || len(p.vars) > 0 {
		return nil, ferr("Nested or multi-segment lambda '%s' at position %d is not supported.", name, pos)
	}
	p.next() // (
	v := p.next()
	if v.kind != tIdent || strings.Contains(v.text, "/") {
		return nil, ferr("Syntax error: lambda variable expected in '%s'.", p.src)
	}
	if p.next().kind != tColon {
		return nil, ferr("Syntax error: ':' expected after the lambda variable in '%s'.", p.src)
	}
	p.vars[v.text] = true
	body, err := p.or()
	delete(p.vars, v.text)
	if err != nil {
		return nil, err
	}
	if p.next().kind != tRParen {
		return nil, ferr("Syntax error: ')' expected to close the lambda in '%s'.", p.src)
	}
	return anyExpr{coll, v.text, body}, nil
}

func (p *filterParser) literal() (literal, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return literal{typ: edmString, s: t.text}, nil
	case tGUID:
		return literal{typ: edmGUID, s: strings.ToLower(t.text)}, nil
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return literal{}, ferr("Invalid number literal '%s'.", t.text)
		}
		if strings.ContainsAny(t.text, ".eE") {
			return literal{typ: edmDecimal, n: n}, nil
		}
		return literal{typ: edmInt, n: n}, nil
	case tDateTime:
		tm, err := parseODataTime(t.text)
		if err != nil {
			return literal{}, ferr("Invalid date/time literal '%s'.", t.text)
		}
		return literal{typ: edmDateTime, t: tm}, nil
	case tIdent:
		switch t.text {
		case "true", "false":
			return literal{typ: edmBool, b: t.text == "true"}, nil
		case "null":
			return literal{typ: edmNull}, nil
		}
	}
	return literal{}, ferr("Syntax error: literal expected at position %d in '%s'.", t.pos, p.src)
}

func parseODataTime(s string) (time.Time, error) {
	if len(s) == 10 {
		return time.Parse("2006-01-02", s)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", s)
}

// filterSchema types the properties a $filter may use on an entity; an
// edmCollection entry's element properties live in elems.
type filterSchema struct {
	entity string // for messages, e.g. Microsoft.Dynamics.CRM.audit
	props  map[string]edmType
	elems  map[string]map[string]edmType
}

// check type-checks e against the schema.
func (sc filterSchema) check(e filterExpr) error {
	return sc.checkIn(e, sc.props)
}

func compatible(p edmType, l literal) bool {
	if l.typ == edmNull {
		return true
	}
	switch p {
	case edmInt, edmDecimal:
		return l.typ == edmInt || l.typ == edmDecimal
	case edmGUID:
		// Dataverse accepts GUIDs quoted or not.
		return l.typ == edmGUID || l.typ == edmString && guidRE.MatchString(l.s)
	case edmString:
		return l.typ == edmString
	case edmDateTime:
		return l.typ == edmDateTime
	case edmBool:
		return l.typ == edmBool
	}
	return false
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (sc filterSchema) checkIn(e filterExpr, props map[string]edmType) error {
	switch x := e.(type) {
	case logicalExpr:
		if err := sc.checkIn(x.l, props); err != nil {
			return err
		}
		return sc.checkIn(x.r, props)
	case notExpr:
		return sc.checkIn(x.x, props)
	case compareExpr:
		t, ok := props[x.prop]
		if !ok || t == edmCollection {
			return ferr("Could not find a property named '%s' on type '%s'.", x.prop, sc.entity)
		}
		if !compatible(t, x.lit) {
			return ferr("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", t, x.lit.typ, x.op)
		}
		if x.lit.typ == edmNull && x.op != "eq" && x.op != "ne" {
			return ferr("The operator '%s' cannot be applied to null.", x.op)
		}
	case inExpr:
		t, ok := props[x.prop]
		if !ok || t == edmCollection {
			return ferr("Could not find a property named '%s' on type '%s'.", x.prop, sc.entity)
		}
		for _, l := range x.lits {
			if !compatible(t, l) || l.typ == edmNull {
				return ferr("The 'in' operator on '%s' (%s) has an incompatible literal %s.", x.prop, t, l)
			}
		}
	case funcExpr:
		t, ok := props[x.prop]
		if !ok || t == edmCollection {
			return ferr("Could not find a property named '%s' on type '%s'.", x.prop, sc.entity)
		}
		if t != edmString {
			return ferr("No function signature for the function with name '%s' matches the specified arguments (%s).", x.name, t)
		}
	case anyExpr:
		elems, ok := sc.elems[x.prop]
		if !ok || props[x.prop] != edmCollection {
			return ferr("Could not find a collection property named '%s' on type '%s'.", x.prop, sc.entity)
		}
		return sc.checkIn(x.body, elems)
	}
	return nil
}

// filterRow gives a filter the values of one row: strings (GUIDs lower
// case), float64 numbers, bools, time.Time, nil; coll returns the elements
// of a collection property.
type filterRow interface {
	value(prop string) any
	coll(prop string) []filterRow
}

// evalFilter reports whether row matches a type-checked filter.
func evalFilter(e filterExpr, row filterRow) bool {
	switch x := e.(type) {
	case logicalExpr:
		if x.op == "and" {
			return evalFilter(x.l, row) && evalFilter(x.r, row)
		}
		return evalFilter(x.l, row) || evalFilter(x.r, row)
	case notExpr:
		return !evalFilter(x.x, row)
	case compareExpr:
		return compareValue(row.value(x.prop), x.op, x.lit)
	case inExpr:
		v := row.value(x.prop)
		for _, l := range x.lits {
			if compareValue(v, "eq", l) {
				return true
			}
		}
		return false
	case funcExpr:
		s, ok := row.value(x.prop).(string)
		if !ok {
			return false
		}
		a, b := strings.ToLower(s), strings.ToLower(x.arg.s)
		switch x.name {
		case "startswith":
			return strings.HasPrefix(a, b)
		case "endswith":
			return strings.HasSuffix(a, b)
		default:
			return strings.Contains(a, b)
		}
	case anyExpr:
		for _, el := range row.coll(x.prop) {
			if evalFilter(x.body, el) {
				return true
			}
		}
		return false
	}
	return false
}

// compareValue compares a row value with a literal; comparisons with null
// follow OData: only eq/ne, and any ordering comparison with null is false.
func compareValue(v any, op string, l literal) bool {
	if l.typ == edmNull || v == nil {
		eq := l.typ == edmNull && v == nil
		switch op {
		case "eq":
			return eq
		case "ne":
			return !eq
		}
		return false
	}
	c := 0
	switch x := v.(type) {
	case string:
		a, b := x, l.s
		if l.typ == edmGUID || guidRE.MatchString(a) {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		c = strings.Compare(a, b)
	case float64:
		switch {
		case x < l.n:
			c = -1
		case x > l.n:
			c = 1
		}
	case int:
		return compareValue(float64(x), op, l)
	case bool:
		if x == l.b {
			c = 0
		} else if !x {
			c = -1
		} else {
			c = 1
		}
	case time.Time:
		c = x.Compare(l.t)
	default:
		return false
	}
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

// timeBounds extracts, from the top-level conjunction of e, the tightest
// range [from, to) on prop that every matching row satisfies (zero values
// when unbounded). Rows must still be checked with evalFilter.
func timeBounds(e filterExpr, prop string) (from, to time.Time) {
	var walk func(filterExpr)
	walk = func(e filterExpr) {
		switch x := e.(type) {
		case logicalExpr:
			if x.op == "and" {
				walk(x.l)
				walk(x.r)
			}
		case compareExpr:
			if x.prop != prop || x.lit.typ != edmDateTime {
				return
			}
			t := x.lit.t
			switch x.op {
			case "ge", "eq":
				if from.IsZero() || t.After(from) {
					from = t
				}
			case "gt":
				t = t.Add(time.Nanosecond)
				if from.IsZero() || t.After(from) {
					from = t
				}
			}
			switch x.op {
			case "lt":
				if to.IsZero() || t.Before(to) {
					to = t
				}
			case "le", "eq":
				t = t.Add(time.Nanosecond)
				if to.IsZero() || t.Before(to) {
					to = t
				}
			}
		}
	}
	if e != nil {
		walk(e)
	}
	return from, to
}
