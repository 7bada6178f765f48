// Package testruntime is a stand-in for an Astronomer Runtime (Airflow)
// image, small enough to build FROM scratch around one static binary. The
// program lives in cmd/airflow; scripts/test-images.sh packages it as
// several Runtime versions so internal/runtime can be tested against a real
// Docker Engine and registry without pulling anything from the internet.
package testruntime
