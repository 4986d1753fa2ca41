package web

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OpenAPI returns the OpenAPI 3.1 document of the JSON API, generated from
// the route table (paths, parameters, access rules) and the Go types of
// request and answer bodies (schemas), so it cannot drift from the handlers.
func (s *Server) OpenAPI() ([]byte, error) {
	schemas := map[string]any{}
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		if !rt.API && !strings.HasPrefix(rt.Path, "/healthz") && rt.Path != "/readyz" && rt.Path != "/metrics" {
			continue
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"tags":        []string{rt.Tag},
			"description": "Access: " + rt.Access.String() + ".",
		}
		if rt.Access.Public {
			op["security"] = []any{}
		}
		var params []any
		for _, name := range pathParams(rt.Path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range rt.Query {
			sch := map[string]any{"type": p.Type}
			if len(p.Enum) > 0 {
				sch["enum"] = p.Enum
			}
			params = append(params, map[string]any{"name": p.Name, "in": "query", "description": p.Doc, "schema": sch})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.BodyContent != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				rt.BodyContent: map[string]any{"schema": map[string]any{"type": "string"}}}}
		}
		if rt.Body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Body), schemas)}}}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case rt.Resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Resp), schemas)}}
		case rt.Content != "":
			ok["content"] = map[string]any{rt.Content: map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		errRef := schemaOf(reflect.TypeOf(ErrorBody{}), schemas)
		responses := map[string]any{strconv.Itoa(status): ok}
		if rt.API {
			responses["default"] = map[string]any{"description": "Error (status from the error code)",
				"content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		op["responses"] = responses
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Seatwise API",
			"version":     "1",
			"description": "Tracks Microsoft Dynamics 365 and Power Apps licences. Authenticate with an API token (Authorization: Bearer swt_…) or a session cookie from POST /api/v1/session; cookie-authenticated unsafe requests also send X-CSRF-Token. Errors have one body: {\"error\": {\"code\", \"message\", \"request_id\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
		},
		"security": []any{map[string]any{"bearer": []any{}}, map[string]any{"session": []any{}}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func operationID(rt *Route) string {
	var parts []string
	for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, "/api/v1/"), "/") {
		seg = strings.NewReplacer("{", "by_", "}", "", ".", "_", "-", "_").Replace(seg)
		if seg != "" && seg != "api" {
			parts = append(parts, seg)
		}
	}
	return strings.ToLower(rt.Method) + "_" + strings.Join(parts, "_")
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf returns the JSON Schema of t, registering named structs in
// schemas and returning a $ref to them.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), schemas)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := t.Name()
		if _, done := schemas[name]; !done {
			schemas[name] = map[string]any{} // placeholder against recursion
			props := map[string]any{}
			var required []string
			for i := range t.NumField() {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" || !f.IsExported() {
					continue
				}
				jname, opts, _ := strings.Cut(tag, ",")
				if jname == "" {
					jname = f.Name
				}
				props[jname] = schemaOf(f.Type, schemas)
				if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
					required = append(required, jname)
				}
			}
			sort.Strings(required)
			sch := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
			if len(required) > 0 {
				sch["required"] = required
			}
			schemas[name] = sch
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}
