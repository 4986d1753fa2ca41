package mscloud

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// addMember serves POST /groups/{id}/members/$ref with
// {"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}:
// 204, 400 for a body without a directory object reference, 404 for an
// unknown group or user, 400 when the user is already a member (Graph's
// "One or more added object references already exist").
func (g *graphCall) addMember(seg []string) {
	gid, _ := url.PathUnescape(seg[1])
	var body struct {
		ID string `json:"@odata.id"`
	}
	if err := json.NewDecoder(io.LimitReader(g.r.Body, 1<<16)).Decode(&body); err != nil || body.ID == "" {
		g.error(http.StatusBadRequest, "Request_BadRequest", "A reference to a directory object is required: {\"@odata.id\": \".../directoryObjects/{id}\"}.")
		return
	}
	i := strings.LastIndex(body.ID, "/")
	uid, _ := url.PathUnescape(body.ID[i+1:])
	if err := g.tc.t.AddGroupMember(gid, uid); err != nil {
		g.tenantError(err)
		return
	}
	g.w.WriteHeader(http.StatusNoContent)
}

// manager serves GET /users/{id}/manager: the manager as a user object, or
// 404 Request_ResourceNotFound when the user has none.
func (g *graphCall) manager(seg []string) {
	id, _ := url.PathUnescape(seg[1])
	sel, ctxURL, ok := g.selection(g.r.URL.Query().Get("$select"), userProps, userDefaultProps, "user", "directoryObjects", "/$entity")
	if !ok {
		return
	}
	m, err := g.tc.t.Manager(id)
	if err != nil {
		g.tenantError(err)
		return
	}
	g.json(http.StatusOK, append(obj{{"@odata.context", ctxURL}, {"@odata.type", "#microsoft.graph.user"}}, renderUser(&m, sel, false)...))
}
