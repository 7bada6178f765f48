package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// importErrorMarker in a DAG file makes the stand-in report it as a DAG
// that fails to import, the way a real parse reports a broken DAG.
const importErrorMarker = "rewind-test: import-error"

// version is `airflow version`: the start check a preflight runs first. A
// broken install (REWIND_TEST_FAIL_START) fails it with a traceback, as an
// image whose Python environment no longer imports does.
func version() int {
	if os.Getenv("REWIND_TEST_FAIL_START") != "" {
		fmt.Fprintln(os.Stderr, "Traceback (most recent call last):")
		fmt.Fprintln(os.Stderr, `  File "/usr/local/bin/airflow", line 5, in <module>`)
		fmt.Fprintln(os.Stderr, "ModuleNotFoundError: No module named 'airflow' (REWIND_TEST_FAIL_START is set)")
		// As a crashing start often does, it prints its settings, secrets
		// and all: what rewind passes on from this output must mask them.
		for _, k := range []string{"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "DB_PASSWORD"} {
			if v := os.Getenv(k); v != "" {
				fmt.Fprintf(os.Stderr, "settings: %s=%s\n", k, v)
			}
		}
		return 1
	}
	fmt.Println(env("AIRFLOW_VERSION", "unknown"))
	return 0
}

// dagsFolder is where the DAG parse reads: AIRFLOW__CORE__DAGS_FOLDER, else
// the `current` bundle.
func dagsFolder() string {
	return env("AIRFLOW__CORE__DAGS_FOLDER", filepath.Join(DagsDir, "current"))
}

type importError struct {
	Filepath string `json:"filepath"`
	Error    string `json:"error"`
}

// importErrors parses the DAGs folder. A folder that does not exist has no
// DAGs, so no import errors (an image deployment's DAGs are in the image).
func importErrors() ([]importError, error) {
	root := dagsFolder()
	var out []importError
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && os.IsNotExist(err) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".py") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), importErrorMarker) {
			out = append(out, importError{Filepath: p, Error: "ImportError: cannot import name 'broken' (" + importErrorMarker + ")"})
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Filepath < out[j].Filepath })
	return out, err
}

// listImportErrors is `airflow dags list-import-errors [--output json]`.
func listImportErrors(args []string) int {
	if os.Getenv("REWIND_TEST_FAIL_START") != "" {
		return version()
	}
	errs, err := importErrors()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reading the DAGs folder %s: %v\n", dagsFolder(), err)
		return 1
	}
	asJSON := false
	for i, a := range args {
		if a == "--output=json" || (a == "--output" || a == "-o") && i+1 < len(args) && args[i+1] == "json" {
			asJSON = true
		}
	}
	if asJSON {
		if errs == nil {
			errs = []importError{}
		}
		b, _ := json.Marshal(errs)
		fmt.Println(string(b))
	} else if len(errs) == 0 {
		fmt.Println("No data found")
	} else {
		for _, e := range errs {
			fmt.Printf("%s | %s\n", e.Filepath, e.Error)
		}
	}
	if len(errs) > 0 {
		return 1
	}
	return 0
}

// jobsCheck is `airflow jobs check --job-type SchedulerJob`: healthy when
// the container's main process is a scheduler that is not made unhealthy.
func jobsCheck(args []string) int {
	want := ""
	for i, a := range args {
		if a == "--job-type" && i+1 < len(args) {
			want = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--job-type="); ok {
			want = v
		}
	}
	if want != "" && want != "SchedulerJob" {
		fmt.Printf("No alive jobs found.\n")
		return 1
	}
	if os.Getenv("REWIND_TEST_UNHEALTHY") != "" {
		fmt.Println("No alive jobs found. (REWIND_TEST_UNHEALTHY is set)")
		return 1
	}
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil || roleOf(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) != "scheduler" {
		fmt.Println("No alive jobs found.")
		return 1
	}
	fmt.Println("Found one alive job.")
	return 0
}
