package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build information, stamped by the release build:
//
//	go build -ldflags "-X github.com/seatwise/seatwise/internal/cli.version=1.2.0 \
//	  -X github.com/seatwise/seatwise/internal/cli.commit=$(git rev-parse HEAD) \
//	  -X github.com/seatwise/seatwise/internal/cli.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Unstamped builds fall back to the module version and the VCS information
// the Go toolchain records (runtime/debug.ReadBuildInfo).
var (
	version = ""
	commit  = ""
	date    = ""
)

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string `json:"version"`    // release version, "dev" for unstamped builds
	Commit    string `json:"commit"`     // VCS revision, "unknown" when not recorded
	Modified  bool   `json:"modified"`   // built from a tree with uncommitted changes
	Date      string `json:"date"`       // build or commit time (RFC 3339), "unknown" when not recorded
	GoVersion string `json:"go_version"` // Go toolchain
	Platform  string `json:"platform"`   // GOOS/GOARCH
}

// Build returns the build information of the running binary.
func Build() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		b = fillFromBuildInfo(b, info)
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// fillFromBuildInfo completes the fields not stamped by -ldflags from the
// toolchain's build information.
func fillFromBuildInfo(b BuildInfo, info *debug.BuildInfo) BuildInfo {
	if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	stamped := b.Commit != ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if !stamped {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			if !stamped {
				b.Modified = s.Value == "true"
			}
		}
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	return b
}

func init() {
	register(func(a *App) *cobra.Command {
		cmd := &cobra.Command{
			Use:         "version",
			Short:       "Print the version, commit, build date and Go version",
			Args:        cobra.NoArgs,
			Annotations: map[string]string{annotationNoConfig: "true"},
		}
		output := OutputFlag(cmd)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			f, err := output()
			if err != nil {
				return err
			}
			b := Build()
			commit := b.Commit
			if b.Modified {
				commit += " (modified)"
			}
			return WriteRecord(a.Stdout, f, b,
				Field{"version", b.Version},
				Field{"commit", commit},
				Field{"date", b.Date},
				Field{"go_version", b.GoVersion},
				Field{"platform", b.Platform},
			)
		}
		return cmd
	})
}
