// Package faults holds rewind's fault-injection suite (test files only):
// `make faults` runs it whole, `make test` a short form. See faults_test.go.
package faults
