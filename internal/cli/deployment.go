package cli

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
)

// deploymentFlags are the settings create and update share.
type deploymentFlags struct {
	name, description, dagSource, executor, cpu, memory, metadataDB, host string
	metadataSnapshot                                                      string
	dagDeploy, rollbackEnabled, autoRollback                              bool
	workers, bakeFailures                                                 int
	bake, bakeInterval                                                    time.Duration
	env, unsetEnv, components                                             []string
}

func (f *deploymentFlags) bind(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "display name (default: the id)")
	fl.StringVar(&f.description, "description", "", "what this deployment is for")
	fl.BoolVar(&f.dagDeploy, "dag-deploy", false, "allow DAG-only deploys")
	fl.BoolVar(&f.rollbackEnabled, "rollback-enabled", false, "allow rollbacks on this deployment (R9)")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable KEY=VALUE for every component (repeatable)")
	fl.StringVar(&f.executor, "executor", "CeleryExecutor", "Airflow executor")
	fl.IntVar(&f.workers, "workers", 1, "number of worker containers (only 1: add worker components with --component to run more)")
	fl.StringVar(&f.cpu, "cpu", "", "CPU limit per container, e.g. 0.5")
	fl.StringVar(&f.memory, "memory", "", "memory limit per container, e.g. 512m")
	fl.BoolVar(&f.autoRollback, "auto-rollback", false, "bake every deploy and roll it back automatically if its scheduler turns unhealthy or DAG import errors rise")
	fl.DurationVar(&f.bake, "bake", 10*time.Minute, "with --auto-rollback: how long a deploy is watched")
	fl.DurationVar(&f.bakeInterval, "bake-interval", time.Minute, "with --auto-rollback: how often the scheduler is probed")
	fl.IntVar(&f.bakeFailures, "bake-failures", 2, "with --auto-rollback: failed probes in a row that roll back")
	fl.StringVar(&f.metadataDB, "metadata-db", "", "the Airflow metadata database (PostgreSQL URL, as the deployment's containers reach it), snapshotted before a metadata downgrade or migration (default: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN of --env)")
	fl.StringVar(&f.metadataSnapshot, "metadata-snapshot", "on", "off: never snapshot the metadata database (a downgrade or migration is then a point of no return, and plans say so)")
	fl.StringVar(&f.host, "host", "local", "the Docker host the deployment runs on: its Docker steps go to the worker started with REWIND_HOST=<host> (changes only before the first deploy)")
	if create {
		fl.StringVar(&f.dagSource, "dag-source", "image", "where DAGs come from: image, bundle, nfs or git-sync")
		fl.StringArrayVar(&f.components, "component", nil, "component NAME=COMMAND (repeatable; default: the Airflow set)")
	} else {
		fl.StringArrayVar(&f.unsetEnv, "unset-env", nil, "remove an environment variable (repeatable)")
		// update changes only what is given: its help shows no defaults.
		fl.VisitAll(func(fl *pflag.Flag) {
			switch fl.Value.Type() {
			case "string":
				fl.DefValue = ""
			case "int":
				fl.DefValue = "0"
			case "duration":
				fl.DefValue = "0s"
			}
		})
	}
}

// settings turns the flags the user set into the change both paths apply
// (action.DeploymentSettings), parsing KEY=VALUE and NAME=COMMAND here.
func (f *deploymentFlags) settings(cmd *cobra.Command) (action.DeploymentSettings, error) {
	ch := cmd.Flags().Changed
	var c action.DeploymentSettings
	str := func(flag string, v string) *string {
		if ch(flag) {
			return &v
		}
		return nil
	}
	boolean := func(flag string, v bool) *bool {
		if ch(flag) {
			return &v
		}
		return nil
	}
	c.Name, c.Description, c.CPU, c.Memory = str("name", f.name), str("description", f.description), str("cpu", f.cpu), str("memory", f.memory)
	c.Executor, c.MetadataDatabaseURL, c.Host = str("executor", f.executor), str("metadata-db", f.metadataDB), str("host", f.host)
	c.DagDeployEnabled, c.RollbackEnabled = boolean("dag-deploy", f.dagDeploy), boolean("rollback-enabled", f.rollbackEnabled)
	if ch("metadata-snapshot") {
		switch f.metadataSnapshot {
		case "off":
			off := domain.MetadataSnapshotsOff
			c.MetadataDatabaseURL = &off
		case "on":
			if c.MetadataDatabaseURL == nil {
				none := ""
				c.MetadataDatabaseURL = &none
			}
		default:
			return c, usageError{fmt.Errorf("--metadata-snapshot is on or off, not %q", f.metadataSnapshot)}
		}
	}
	if ch("dag-source") {
		ds := domain.DagSource(f.dagSource)
		c.DagSource = &ds
	}
	if ch("workers") {
		c.Workers = &f.workers
	}
	if ch("auto-rollback") || ch("bake") || ch("bake-interval") || ch("bake-failures") {
		c.AutoRollback = &action.AutoRollbackSettings{Enabled: boolean("auto-rollback", f.autoRollback), BakePeriod: f.bake, Interval: f.bakeInterval, Failures: f.bakeFailures}
	}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !action.ValidEnvName(k) {
			return c, domain.Errorf(domain.InvalidInput, "--env %q: want KEY=VALUE with KEY made of letters, digits and _", kv)
		}
		if c.Env == nil {
			c.Env = map[string]string{}
		}
		c.Env[k] = v
	}
	c.UnsetEnv = f.unsetEnv
	seen := map[string]bool{}
	for _, nc := range f.components {
		n, cmdline, ok := strings.Cut(nc, "=")
		if !ok || domain.CheckDeploymentID(n) != nil || strings.TrimSpace(cmdline) == "" || seen[n] {
			return c, domain.Errorf(domain.InvalidInput, "--component %q: want a unique NAME=COMMAND with a lowercase name", nc)
		}
		seen[n] = true
		c.Components = append(c.Components, domain.Component{Name: n, Command: cmdline})
	}
	return c, nil
}

func deploymentCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Create, change and inspect deployments"}
	var cf, uf deploymentFlags
	create := &cobra.Command{
		Use:   "create <id>",
		Short: "Create a deployment (through rewind serve: needs system.admin)",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := domain.CheckDeploymentID(args[0]); err != nil {
				return err
			}
			c, err := cf.settings(cmd)
			if err != nil {
				return err
			}
			d, err := invoke(s, action.CreateDeployment{ID: args[0], DeploymentSettings: c}, (*client.Client).CreateDeployment)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "created deployment %s on host %s (DAGs from %s, DAG deploys %s, rollbacks %s)\n", d.ID, d.Host, d.DagSource, onOff(d.DagDeployEnabled), onOff(d.RollbackEnabled))
			return nil
		},
	}
	cf.bind(create, true)
	mayCreateDataDir(create)
	var applyNow, wait bool
	update := &cobra.Command{
		Use:   "update <id> [--env K=V]… [--apply [--wait]]",
		Short: "Change a deployment's settings (through rewind serve: needs system.admin)",
		Long: "Change a deployment's settings. Environment and resources reach the containers at the next deploy or rollback " +
			"(R17: every container a change starts gets the stored configuration), or now with --apply, which recreates them " +
			"through the change lock like a deploy (workers drain), logged but not a revision.",
		Args: exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := domain.CheckDeploymentID(args[0]); err != nil {
				return err
			}
			c, err := uf.settings(cmd)
			if err != nil {
				return err
			}
			be, err := s.backend()
			if err != nil {
				return err
			}
			// --apply alone changes no setting: it goes straight to the
			// change, which needs only the deploy permission (checked by
			// the workflow, and by rewind serve), not system.admin, so an
			// editor can recreate containers through rewind serve too.
			if applyNow && reflect.DeepEqual(c, action.DeploymentSettings{}) {
				return s.applyConfig(be, args[0], wait)
			}
			d, err := invoke(s, action.UpdateDeployment{ID: args[0], Settings: c}, (*client.Client).UpdateDeployment)
			if err != nil {
				return err
			}
			if !applyNow {
				fmt.Fprintf(s.out, "updated deployment %s; environment and resources take effect at its next deploy or rollback (or now: rewind deployment update %s --apply)\n", d.ID, d.ID)
				return nil
			}
			return s.applyConfig(be, d.ID, wait)
		},
	}
	uf.bind(update, false)
	update.Flags().BoolVar(&applyNow, "apply", false, "recreate the containers with the stored configuration now, through the change lock")
	update.Flags().BoolVar(&wait, "wait", false, "with --apply: wait until the containers run the new configuration")
	update.Flags().StringVar(&s.as, "as", "", "with --apply: the requester (default $REWIND_USER, else the OS user; refused through rewind serve)")
	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Show a deployment (through rewind serve: environment values redacted)",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := invoke(s, action.ShowDeployment{ID: args[0]}, (*client.Client).ShowDeployment)
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(d)
			}
			rows := [][]string{
				{"id", d.ID}, {"name", d.Name}, {"description", orDash(d.Description)}, {"dag source", string(d.DagSource)},
				{"dag deploys", onOff(d.DagDeployEnabled)}, {"rollbacks", onOff(d.RollbackEnabled)},
				{"executor", d.Resources.Executor}, {"workers", strconv.Itoa(d.Resources.Workers)},
				{"current revision", revText(d.CurrentRevision)},
			}
			if d.MetadataDatabaseURL != "" {
				rows = append(rows, []string{"metadata database", action.RedactURL(d.MetadataDatabaseURL)})
			}
			if ar := d.AutoRollback; ar != nil && ar.Enabled {
				rows = append(rows, []string{"auto rollback", fmt.Sprintf("bake %s, probe every %s, roll back after %d failed probes", ar.BakePeriod, ar.Interval, ar.Failures)})
			}
			keys := make([]string, 0, len(d.Env))
			for k := range d.Env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				rows = append(rows, []string{"env", k + "=" + d.Env[k]})
			}
			for _, c := range d.Components {
				rows = append(rows, []string{"component", c.Name + ": " + c.Command})
			}
			return table(s.out, []string{"FIELD", "VALUE"}, rows)
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List deployments (through rewind serve: those you hold a grant on)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := invoke(s, action.ListDeployments{}, (*client.Client).ListDeployments)
			if err != nil {
				return err
			}
			if s.output == "json" {
				if all == nil {
					all = []domain.Deployment{}
				}
				return s.json(all)
			}
			rows := make([][]string, 0, len(all))
			for _, d := range all {
				rows = append(rows, []string{d.ID, d.Name, string(d.DagSource), onOff(d.DagDeployEnabled), onOff(d.RollbackEnabled), revText(d.CurrentRevision)})
			}
			return table(s.out, []string{"ID", "NAME", "DAG SOURCE", "DAG DEPLOYS", "ROLLBACKS", "CURRENT"}, rows)
		},
	}
	cmd.AddCommand(create, update, show, list)
	return cmd
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func revText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

// applyConfig starts the configuration change and, with wait, follows it.
func (s *session) applyConfig(be backend, id string, wait bool) error {
	run, err := be.applyConfig(id)
	if err != nil {
		return err
	}
	if !wait {
		fmt.Fprintf(s.out, "updated deployment %s; applying its configuration: workflow %s, run %s; follow it with `rewind watch %s`\n", id, run.GetID(), run.GetRunID(), run.GetID())
		return nil
	}
	var res action.ApplyConfigResult
	if err := run.Get(s.ctx, &res); err != nil {
		return err
	}
	if s.output == "json" {
		return s.json(res)
	}
	fmt.Fprintf(s.out, "updated deployment %s; its containers run the stored configuration (revision %d: %s)\n", id, res.Revision, swapLine(res.Swap))
	return nil
}

func swapLine(r *action.SwapReport) string {
	if r == nil {
		return "nothing to do"
	}
	return fmt.Sprintf("%d replaced, %d unchanged, %d draining", len(r.Replaced), len(r.Unchanged), len(r.Drained))
}
