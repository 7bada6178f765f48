// Command htpasswd prints one htpasswd line, "user:<bcrypt hash>", for the
// test registry's basic authentication (Debian's docker-registry accepts
// bcrypt only). It stands in for apache2-utils' htpasswd -B, so the tests
// need nothing beyond Go. The password is read from stdin, never from the
// command line, so it does not show in the process list.
//
//	printf %s "$password" | go run ./internal/testregistry/cmd/htpasswd USER
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || strings.ContainsAny(os.Args[1], ":\n") {
		fmt.Fprintln(os.Stderr, "usage: htpasswd USER <password-on-stdin> (USER without ':' or newlines)")
		os.Exit(2)
	}
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && pw == "" {
		fmt.Fprintln(os.Stderr, "htpasswd: no password on stdin")
		os.Exit(2)
	}
	pw = strings.TrimRight(pw, "\r\n")
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
	fmt.Printf("%s:%s\n", os.Args[1], hash)
}
