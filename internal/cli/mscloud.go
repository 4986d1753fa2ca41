package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seatwise/seatwise/internal/mscloud"
	"github.com/seatwise/seatwise/internal/mscloud/tenant"
	"github.com/seatwise/seatwise/internal/sam"
)

func init() { register(newMscloudCmd) }

// newMscloudCmd is `seatwise mscloud`: run the Microsoft simulator until
// interrupted, after printing one JSON line with its endpoints and
// credentials.
func newMscloudCmd(a *App) *cobra.Command {
	var (
		seed                         int64
		users, envs, tenants         int
		scenarios                    []string
		plainHTTP                    bool
		addr, httpAddr, caFile       string
		faultSpecs                   []string
		throttle, serverErr, unavail float64
		drop, malformed, truncated   float64
		latency, jitter, tokenLife   time.Duration
		dvExecution, dvWindow        time.Duration
		msLimits                     bool
		retryAfter                   float64
		dvConcurrent, dvRequests     int
		graphRU                      int
	)
	cmd := &cobra.Command{
		Use:   "mscloud",
		Short: "Run the local simulator of Entra ID, Microsoft Graph and Dataverse",
		Long: `Run the local simulator of Microsoft (Entra ID v2.0, Graph v1.0, Dataverse Web API v9.2)
over HTTPS with a generated CA. Prints one JSON line with the login, Graph and Dataverse URLs,
the tenant id, client id and secret, the CA file and the control URL, then serves until interrupted.

Faults are per host kind (login, graph, dataverse): --fault graph.throttle=0.1 --fault dataverse.latency=50ms
--fault graph.next=throttle,throttle. The --throttle-rate style flags apply to graph and dataverse.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotationNoConfig: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := mscloud.Config{Addr: addr, HTTP: plainHTTP, HTTPAddr: httpAddr, CAFile: caFile, Seed: seed, TokenLifetime: tokenLife, Logger: a.Logger}
			for _, sc := range scenarios {
				cfg.Tenants = append(cfg.Tenants, mscloud.TenantConfig{Scenario: sc})
			}
			for i := 0; i < tenants; i++ {
				cfg.Tenants = append(cfg.Tenants, mscloud.TenantConfig{Options: tenant.Options{Seed: seed, Users: users, Environments: envs}})
			}
			for _, k := range []*mscloud.FaultRates{&cfg.Faults.Graph, &cfg.Faults.Dataverse} {
				k.Throttle, k.ServerError, k.Unavailable, k.Drop, k.Malformed, k.Truncated = throttle, serverErr, unavail, drop, malformed, truncated
				k.RetryAfter = retryAfter
			}
			for _, k := range []*mscloud.FaultRates{&cfg.Faults.Login, &cfg.Faults.Graph, &cfg.Faults.Dataverse} {
				k.Latency, k.Jitter = mscloud.Duration(latency), mscloud.Duration(jitter)
			}
			for _, spec := range faultSpecs {
				if err := applyFaultSpec(&cfg.Faults, spec); err != nil {
					return sam.Wrap(sam.EINVALID, err, "--fault %s", spec)
				}
			}
			cfg.Limits = mscloud.Limits{DataverseConcurrent: dvConcurrent, DataverseRequests: dvRequests, DataverseExecution: mscloud.Duration(dvExecution),
				DataverseWindow: mscloud.Duration(dvWindow), GraphResourceUnits: graphRU}
			if msLimits {
				cfg.Limits = mscloud.MicrosoftLimits()
			}
			srv, err := mscloud.Start(cmd.Context(), cfg)
			if err != nil {
				return sam.Wrap(sam.EINVALID, err, "start the simulator")
			}
			defer srv.Close()
			line, err := json.Marshal(srv.Info())
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, string(line))
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&seed, "seed", 1, "seed of generated tenants, fault draws and paging tokens")
	f.IntVar(&users, "users", 200, "users per generated tenant")
	f.IntVar(&envs, "environments", 2, "Dataverse environments per generated tenant")
	f.IntVar(&tenants, "tenants", 1, "number of generated tenants (in addition to --scenario files)")
	f.StringArrayVar(&scenarios, "scenario", nil, "scenario file defining a tenant (repeatable)")
	f.BoolVar(&plainHTTP, "http", false, "also serve plain HTTP (for tests)")
	f.StringVar(&addr, "addr", "127.0.0.1:0", "HTTPS listen address")
	f.StringVar(&httpAddr, "http-addr", "127.0.0.1:0", "plain HTTP listen address (with --http)")
	f.StringVar(&caFile, "ca-file", "", "where to write the generated CA certificate (default: a temporary file)")
	f.StringArrayVar(&faultSpecs, "fault", nil, "fault setting kind.name=value, kind login|graph|dataverse, name throttle|server_error|unavailable|drop|malformed|truncated|retry_after|latency|jitter|next (repeatable)")
	f.Float64Var(&throttle, "throttle-rate", 0, "probability of a 429 on Graph and Dataverse requests")
	f.Float64Var(&serverErr, "error-rate", 0, "probability of a 500")
	f.Float64Var(&unavail, "unavailable-rate", 0, "probability of a 503 with Retry-After")
	f.Float64Var(&drop, "drop-rate", 0, "probability of a dropped connection")
	f.Float64Var(&malformed, "malformed-rate", 0, "probability of a malformed JSON body (GET only)")
	f.Float64Var(&truncated, "truncated-rate", 0, "probability of a truncated body (GET only)")
	f.Float64Var(&retryAfter, "retry-after", 0, "Retry-After seconds on 429/503 (0: 2.128 on Graph, 2 elsewhere)")
	f.DurationVar(&latency, "latency", 0, "latency added to every request")
	f.DurationVar(&jitter, "jitter", 0, "random extra latency, up to this much")
	f.DurationVar(&tokenLife, "token-lifetime", 0, "access-token lifetime (default 1h; short values simulate expiry)")
	f.IntVar(&dvConcurrent, "dataverse-concurrent-limit", 0, "enforce this many concurrent Dataverse requests per identity (Microsoft: 52; 0 off)")
	f.IntVar(&dvRequests, "dataverse-request-limit", 0, "enforce this many Dataverse requests per identity per 300 s (Microsoft: 6000; 0 off)")
	f.DurationVar(&dvExecution, "dataverse-execution-limit", 0, "enforce this combined Dataverse execution time per identity per 300 s (Microsoft: 20m; 0 off)")
	f.IntVar(&graphRU, "graph-resource-units", 0, "enforce this Graph resource-unit budget per app and tenant per 10 s (0 off)")
	f.DurationVar(&dvWindow, "dataverse-window", 0, "the sliding window of the Dataverse request and execution-time limits (default 300s; shorter for tests)")
	f.BoolVar(&msLimits, "microsoft-limits", false, "enforce Microsoft's documented limits (Dataverse 52 concurrent, 6000 requests and 20m execution per 300 s; Graph 8000 units per 10 s) instead of the limit flags")
	return cmd
}

// applyFaultSpec applies one "kind.name=value" setting.
func applyFaultSpec(f *mscloud.Faults, spec string) error {
	key, val, ok := strings.Cut(spec, "=")
	kind, name, ok2 := strings.Cut(key, ".")
	if !ok || !ok2 {
		return fmt.Errorf("want kind.name=value")
	}
	var r *mscloud.FaultRates
	switch kind {
	case "login":
		r = &f.Login
	case "graph":
		r = &f.Graph
	case "dataverse":
		r = &f.Dataverse
	default:
		return fmt.Errorf("unknown host kind %q (want login, graph or dataverse)", kind)
	}
	switch name {
	case "latency", "jitter":
		d, err := time.ParseDuration(val)
		if err != nil {
			return err
		}
		if name == "latency" {
			r.Latency = mscloud.Duration(d)
		} else {
			r.Jitter = mscloud.Duration(d)
		}
		return nil
	case "next":
		r.Next = strings.Split(val, ",")
		return nil
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", val)
	}
	switch name {
	case "throttle":
		r.Throttle = v
	case "server_error":
		r.ServerError = v
	case "unavailable":
		r.Unavailable = v
	case "drop":
		r.Drop = v
	case "malformed":
		r.Malformed = v
	case "truncated":
		r.Truncated = v
	case "retry_after":
		r.RetryAfter = v
	default:
		return fmt.Errorf("unknown fault %q", name)
	}
	return nil
}
