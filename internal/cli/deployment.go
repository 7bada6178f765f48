package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/domain"
)

// deploymentFlags are the settings create and update share.
type deploymentFlags struct {
	name, description, dagSource, executor, cpu, memory string
	dagDeploy, rollbackEnabled                          bool
	workers                                             int
	env, unsetEnv, components                           []string
}

func (f *deploymentFlags) bind(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "display name (default: the id)")
	fl.StringVar(&f.description, "description", "", "what this deployment is for")
	fl.BoolVar(&f.dagDeploy, "dag-deploy", false, "allow DAG-only deploys")
	fl.BoolVar(&f.rollbackEnabled, "rollback-enabled", false, "allow rollbacks on this deployment (R9)")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable KEY=VALUE for every component (repeatable)")
	fl.StringVar(&f.executor, "executor", "CeleryExecutor", "Airflow executor")
	fl.IntVar(&f.workers, "workers", 1, "number of worker containers")
	fl.StringVar(&f.cpu, "cpu", "", "CPU limit per container, e.g. 0.5")
	fl.StringVar(&f.memory, "memory", "", "memory limit per container, e.g. 512m")
	if create {
		fl.StringVar(&f.dagSource, "dag-source", "image", "where DAGs come from: image, bundle, nfs or git-sync")
		fl.StringArrayVar(&f.components, "component", nil, "component NAME=COMMAND (repeatable; default: the Airflow set)")
	} else {
		fl.StringArrayVar(&f.unsetEnv, "unset-env", nil, "remove an environment variable (repeatable)")
	}
}

// apply writes the flags the user set onto d, validating each.
func (f *deploymentFlags) apply(cmd *cobra.Command, d *domain.Deployment) error {
	ch := cmd.Flags().Changed
	if ch("name") {
		d.Name = f.name
	}
	if ch("description") {
		d.Description = f.description
	}
	if ch("dag-source") {
		d.DagSource = domain.DagSource(f.dagSource)
	}
	if ch("dag-deploy") {
		d.DagDeployEnabled = f.dagDeploy
	}
	if ch("rollback-enabled") {
		d.RollbackEnabled = f.rollbackEnabled
	}
	if ch("executor") || d.Resources.Executor == "" {
		d.Resources.Executor = f.executor
	}
	if ch("workers") || d.Resources.Workers == 0 {
		d.Resources.Workers = f.workers
	}
	if ch("cpu") {
		d.Resources.CPU = f.cpu
	}
	if ch("memory") {
		d.Resources.Memory = f.memory
	}
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	for _, kv := range f.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validEnvName(k) {
			return domain.Errorf(domain.InvalidInput, "--env %q: want KEY=VALUE with KEY made of letters, digits and _", kv)
		}
		d.Env[k] = v
	}
	for _, k := range f.unsetEnv {
		delete(d.Env, k)
	}
	if len(f.components) > 0 {
		d.Components = nil
		seen := map[string]bool{}
		for _, nc := range f.components {
			n, c, ok := strings.Cut(nc, "=")
			if !ok || domain.CheckDeploymentID(n) != nil || strings.TrimSpace(c) == "" || seen[n] {
				return domain.Errorf(domain.InvalidInput, "--component %q: want a unique NAME=COMMAND with a lowercase name", nc)
			}
			seen[n] = true
			d.Components = append(d.Components, domain.Component{Name: n, Command: c})
		}
	}
	if d.Name == "" {
		d.Name = d.ID
	}
	if !d.DagSource.Valid() {
		return domain.Errorf(domain.InvalidInput, "--dag-source %q: want image, bundle, nfs or git-sync", d.DagSource)
	}
	if d.Resources.Workers < 0 || d.Resources.Workers > 100 {
		return domain.Errorf(domain.InvalidInput, "--workers must be between 0 and 100")
	}
	if len(d.Name) > 200 || len(d.Description) > 1000 {
		return domain.Errorf(domain.InvalidInput, "name (200) or description (1000 characters) is too long")
	}
	return nil
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func deploymentCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Create, change and inspect deployments"}
	var cf, uf deploymentFlags
	create := &cobra.Command{
		Use:   "create <id>",
		Short: "Create a deployment",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := domain.CheckDeploymentID(args[0]); err != nil {
				return err
			}
			d := domain.Deployment{ID: args[0], Components: domain.DefaultComponents(), DagSource: domain.DagSourceImage}
			if err := cf.apply(cmd, &d); err != nil {
				return err
			}
			st, err := s.store()
			if err != nil {
				return err
			}
			if err := st.CreateDeployment(s.ctx, d); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "created deployment %s (DAGs from %s, DAG deploys %s, rollbacks %s)\n", d.ID, d.DagSource, onOff(d.DagDeployEnabled), onOff(d.RollbackEnabled))
			return nil
		},
	}
	cf.bind(create, true)
	update := &cobra.Command{
		Use:   "update <id>",
		Short: "Change a deployment's settings",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, st, err := s.deployment(args[0])
			if err != nil {
				return err
			}
			if err := uf.apply(cmd, &d); err != nil {
				return err
			}
			if err := st.UpdateDeploymentSettings(s.ctx, d); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "updated deployment %s\n", d.ID)
			return nil
		},
	}
	uf.bind(update, false)
	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Show a deployment",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, _, err := s.deployment(args[0])
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
		Short: "List deployments",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := s.store()
			if err != nil {
				return err
			}
			var all []domain.Deployment
			for after := ""; ; {
				page, err := st.ListDeployments(s.ctx, after, 500)
				if err != nil {
					return err
				}
				all = append(all, page...)
				if len(page) < 500 {
					break
				}
				after = page[len(page)-1].ID
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
