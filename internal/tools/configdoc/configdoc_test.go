package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/seatwise/seatwise/internal/config"
)

// TestReferenceIsCurrent fails while docs/config.md differs from what the
// generator writes from the current options.
func TestReferenceIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../../" + Output)
	if err != nil {
		t.Fatalf("%v: generate it with `go run ./internal/tools/configdoc`", err)
	}
	if want := Render(config.Options()); !bytes.Equal(got, want) {
		t.Errorf("%s is stale: regenerate it with `go run ./internal/tools/configdoc` (from the repository root) and commit it", Output)
	}
}

func TestRenderNamesEveryOption(t *testing.T) {
	doc := string(Render(config.Options()))
	for _, o := range config.Options() {
		for _, want := range []string{"\n### " + o.Name + "\n", "`" + o.Env + "`"} {
			if !strings.Contains(doc, want) {
				t.Errorf("reference lacks %q", want)
			}
		}
		if o.Flag != "" && !strings.Contains(doc, "`--"+o.Flag+"`") {
			t.Errorf("reference lacks the flag of %s", o.Name)
		}
	}
	secret := config.Option{Name: "x", Env: "SEATWISE_X", Secret: true, Doc: "A | B."}
	if out := string(Render([]config.Option{secret})); !strings.Contains(out, "not accepted as a flag") {
		t.Errorf("a secret option is not marked:\n%s", out)
	}
}
