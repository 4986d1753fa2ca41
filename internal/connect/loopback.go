package connect

import (
	"context"
	"errors"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/seatwise/seatwise/internal/sam"
)

// Loopback receives a sign-in's redirects on 127.0.0.1 and a random port,
// as cloud CLIs do: Entra accepts any port of an http loopback redirect URI.
type Loopback struct {
	ln  net.Listener
	uri string
}

// CallbackPath is the path of the loopback redirect URI.
const CallbackPath = "/callback"

// NewLoopback listens on 127.0.0.1 with a port chosen by the system.
// EUNAVAILABLE when no port can be opened.
func NewLoopback() (*Loopback, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "opening a loopback port for the sign-in redirect")
	}
	return &Loopback{ln: ln, uri: "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + CallbackPath}, nil
}

// RedirectURI returns http://127.0.0.1:{port}/callback.
func (l *Loopback) RedirectURI() string { return l.uri }

// Close stops listening (Run closes too).
func (l *Loopback) Close() error { return l.ln.Close() }

var resultPage = template.Must(template.New("r").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Seatwise sign-in</title></head>
<body><h1>{{.Title}}</h1><p id="message">{{.Message}}</p><p>You can close this window.</p></body></html>
`))

// Run serves the redirects of s until the sign-in completes (nil), fails
// (its error) or ctx ends. After each consent the browser is sent on to the
// next one; at the end it shows a page saying the profile is connected.
// Requests to other paths are answered 404 and do not affect the sign-in.
func (l *Loopback) Run(ctx context.Context, s *SignIn) error {
	result := make(chan error, 1)
	finish := func(err error) {
		select {
		case result <- err:
		default:
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(CallbackPath, func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed sign-in response", http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next, err := s.Callback(r.Context(), r.Form)
		switch {
		case err != nil:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			resultPage.Execute(w, map[string]string{"Title": "Seatwise could not connect", "Message": sam.ErrorMessage(err)})
			finish(err)
		case next != "":
			http.Redirect(w, r, next, http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			resultPage.Execute(w, map[string]string{"Title": "Seatwise is connected", "Message": "Profile " + s.profile.Name + " is connected to tenant " + s.profile.TenantID + "."})
			finish(nil)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			finish(sam.Wrap(sam.EUNAVAILABLE, err, "serving the sign-in redirect"))
		}
	}()
	var err error
	select {
	case err = <-result:
	case <-ctx.Done():
		err = sam.Wrap(sam.EUNAVAILABLE, ctx.Err(), "waiting for the sign-in")
	}
	// Let the last page reach the browser before closing.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return err
}
