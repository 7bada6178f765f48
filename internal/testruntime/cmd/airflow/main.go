// Command airflow plays every Airflow component in rewind's test images.
//
// It is installed as /usr/local/bin/airflow in an image built FROM scratch,
// so there is no shell: everything a test needs to observe is a sub-command
// usable with `docker exec`.
//
//	airflow scheduler|api-server|webserver|triggerer|dag-processor
//	    runs until SIGTERM/SIGINT, then exits 0 at once.
//	airflow celery worker (or: airflow worker)
//	    runs "tasks" back to back, each REWIND_TEST_TASK_SECONDS long (default
//	    5). On SIGTERM it finishes the task it is running, like Celery's warm
//	    shutdown, then exits 0. A worker killed with SIGKILL therefore shows
//	    exit code 137 and a drained one exit code 0.
//	airflow status
//	    prints the role of the container's main process (read from
//	    /proc/1/cmdline), the Runtime and Airflow versions of the image, and
//	    the DAG bundle the `current` symlink resolves to.
//	airflow health
//	    exit 0 when the main process is a component and REWIND_TEST_UNHEALTHY
//	    is not set; used as the HEALTHCHECK of the *-healthcheck images.
//	airflow db downgrade --to-version V [--yes]
//	    the metadata downgrade one-off of R11. With a PostgreSQL metadata
//	    database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) it records the run and
//	    drops the feature tables of Airflow versions newer than V (see db.go);
//	    without one it only logs. REWIND_TEST_DOWNGRADE_SECONDS makes it slow.
//	airflow db migrate | db check-migrations [--migration-wait-timeout N]
//	    the schema version in the metadata database (schema.go): migrate
//	    raises it to this image's Airflow version; every component waits
//	    for it to be its own before it starts, like check-migrations, and
//	    exits 1 with Airflow's TimeoutError wording when it is not.
//	airflow version
//	    prints the Airflow version; fails like a broken install when
//	    REWIND_TEST_FAIL_START is set.
//	airflow dags list-import-errors [--output json]
//	    parses the DAGs folder: a .py file containing "rewind-test:
//	    import-error" is an import error. Prints them (JSON with --output
//	    json) and, like Airflow's, exits 1 when there are any.
//	airflow jobs check --job-type SchedulerJob
//	    exit 0 when a scheduler is the main process and not made unhealthy.
//
// The versions come from ASTRONOMER_RUNTIME_VERSION and AIRFLOW_VERSION,
// which the image sets (as real Runtime and official images do) whatever
// labels it carries: scripts/test-images.sh builds Astronomer-labelled,
// official-label-only and unlabelled variants.
// REWIND_TEST_FAIL_START makes a component exit 1 right after starting (and
// the start checks fail), for the "image no longer starts" tests;
// REWIND_TEST_IGNORE_SIGTERM makes a worker ignore SIGTERM, for the drain
// deadline tests. REWIND_TEST_SCHEDULER_EXIT_AFTER=N makes a scheduler exit 1
// N seconds after it started (a crash loop under the restart policy), for
// the bake tests. When the metadata database is PostgreSQL, a scheduler
// records its Airflow version's feature table at start (see db.go).
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DagsDir is where rewind mounts <bundle root>/<deployment>; DAGs are read
// through its `current` symlink (SPEC §1).
const DagsDir = "/usr/local/airflow/dags"

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: airflow scheduler|api-server|webserver|triggerer|dag-processor|celery worker|status|health|db downgrade|db migrate|db check-migrations|version|dags list-import-errors|jobs check")
		os.Exit(2)
	}
	switch args[0] {
	case "status":
		os.Exit(status())
	case "health":
		os.Exit(health())
	case "version":
		os.Exit(version())
	case "dags":
		if len(args) > 1 && args[1] == "list-import-errors" {
			os.Exit(listImportErrors(args[2:]))
		}
		fmt.Fprintf(os.Stderr, "airflow dags: unknown sub-command %q\n", strings.Join(args[1:], " "))
		os.Exit(2)
	case "jobs":
		if len(args) > 1 && args[1] == "check" {
			os.Exit(jobsCheck(args[2:]))
		}
		fmt.Fprintf(os.Stderr, "airflow jobs: unknown sub-command %q\n", strings.Join(args[1:], " "))
		os.Exit(2)
	case "db":
		if len(args) > 1 && args[1] == "downgrade" {
			os.Exit(dbDowngrade(args[2:]))
		}
		if len(args) > 1 && args[1] == "migrate" {
			os.Exit(dbMigrate(args[2:]))
		}
		if len(args) > 1 && args[1] == "check-migrations" {
			os.Exit(dbCheckMigrations(args[2:]))
		}
		fmt.Fprintf(os.Stderr, "airflow db: unknown sub-command %q\n", strings.Join(args[1:], " "))
		os.Exit(2)
	}
	role := roleOf(args)
	run(role)
}

// roleOf maps an Airflow command line to the component it starts.
func roleOf(args []string) string {
	if len(args) > 0 && strings.HasSuffix(args[0], "airflow") {
		args = args[1:]
	}
	if len(args) == 0 {
		return ""
	}
	if args[0] == "celery" && len(args) > 1 {
		return args[1] // "worker", "flower"
	}
	return args[0]
}

func run(role string) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	logf("%s started: runtime=%s airflow=%s pid=%d dags=%s", role,
		env("ASTRONOMER_RUNTIME_VERSION", "unknown"), env("AIRFLOW_VERSION", "unknown"), os.Getpid(), describeDags())
	if os.Getenv("REWIND_TEST_FAIL_START") != "" {
		logf("%s: REWIND_TEST_FAIL_START is set, exiting 1", role)
		os.Exit(1)
	}
	if err := waitForMigrations(role); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if role == "scheduler" {
		if err := recordFeature(); err != nil {
			logf("scheduler: metadata database: %v", err)
			os.Exit(1)
		}
	}
	ignoreTerm := os.Getenv("REWIND_TEST_IGNORE_SIGTERM") != ""
	if role != "worker" {
		stop := make(chan struct{})
		var crash <-chan time.Time
		if role == "scheduler" {
			go heartbeats(stop)
			if f, err := strconv.ParseFloat(os.Getenv("REWIND_TEST_SCHEDULER_EXIT_AFTER"), 64); err == nil && f > 0 {
				crash = time.After(time.Duration(f * float64(time.Second)))
			}
		}
		select {
		case sig := <-sigs:
			logf("%s: got %s, stopping", role, sig)
			// A real scheduler finishes its loop (and heartbeats) before it
			// exits; REWIND_TEST_STOP_SECONDS makes that take a while.
			if s, err := strconv.ParseFloat(os.Getenv("REWIND_TEST_STOP_SECONDS"), 64); err == nil && s > 0 {
				time.Sleep(time.Duration(s * float64(time.Second)))
			}
			close(stop)
		case <-crash:
			// Like a scheduler that dies of a bad DAG or a bad setting a few
			// seconds in: Docker's restart policy restarts it, in a loop.
			logf("scheduler: crashed (REWIND_TEST_SCHEDULER_EXIT_AFTER), exiting 1")
			os.Exit(1)
		}
		return
	}
	taskLen := 5 * time.Second
	if v := os.Getenv("REWIND_TEST_TASK_SECONDS"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			taskLen = time.Duration(f * float64(time.Second))
		}
	}
	for n := 1; ; n++ {
		logf("worker: task %d started (%s)", n, taskLen)
		done := time.After(taskLen)
		stopping := false
	task:
		for {
			select {
			case <-done:
				break task
			case sig := <-sigs:
				if ignoreTerm && sig == syscall.SIGTERM {
					logf("worker: got %s during task %d: ignored (REWIND_TEST_IGNORE_SIGTERM)", sig, n)
					continue
				}
				if !stopping {
					logf("worker: got %s during task %d: warm shutdown, finishing the task first", sig, n)
				}
				stopping = true
			}
		}
		logf("worker: task %d finished", n)
		if stopping {
			logf("worker: stopped after draining")
			return
		}
		select {
		case sig := <-sigs:
			if ignoreTerm && sig == syscall.SIGTERM {
				logf("worker: got %s between tasks: ignored (REWIND_TEST_IGNORE_SIGTERM)", sig)
				continue
			}
			logf("worker: got %s between tasks, stopping", sig)
			return
		default:
		}
	}
}

func status() int {
	role := ""
	if b, err := os.ReadFile("/proc/1/cmdline"); err == nil {
		parts := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		role = roleOf(parts)
	}
	fmt.Printf("role=%s\n", role)
	fmt.Printf("runtime=%s\n", env("ASTRONOMER_RUNTIME_VERSION", "unknown"))
	fmt.Printf("airflow=%s\n", env("AIRFLOW_VERSION", "unknown"))
	cur := filepath.Join(DagsDir, "current")
	target, err := os.Readlink(cur)
	if err != nil {
		fmt.Printf("current=\n")
		fmt.Printf("current_error=%v\n", err)
		return 0
	}
	fmt.Printf("current=%s\n", target)
	resolved, err := filepath.EvalSymlinks(cur)
	if err != nil {
		fmt.Printf("current_error=%v\n", err)
		return 0
	}
	fmt.Printf("bundle=%s\n", filepath.Base(resolved))
	if b, err := os.ReadFile(filepath.Join(resolved, "VERSION")); err == nil {
		fmt.Printf("bundle_version=%s\n", strings.TrimSpace(string(b)))
	}
	var files []string
	filepath.WalkDir(resolved, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(resolved, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	fmt.Printf("files=%s\n", strings.Join(files, ","))
	return 0
}

func health() int {
	if os.Getenv("REWIND_TEST_UNHEALTHY") != "" {
		fmt.Println("unhealthy: REWIND_TEST_UNHEALTHY is set")
		return 1
	}
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		fmt.Println("unhealthy: no main process")
		return 1
	}
	fmt.Println("healthy")
	return 0
}

func describeDags() string {
	if t, err := os.Readlink(filepath.Join(DagsDir, "current")); err == nil {
		return DagsDir + "/current -> " + t
	}
	return "(no " + DagsDir + "/current)"
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}
