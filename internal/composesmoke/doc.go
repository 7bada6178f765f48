// Package composesmoke holds the smoke test of the compose stack
// (docker-compose.yml): it starts the file as it ships, with local
// stand-ins for the images these machines cannot pull, and runs a deploy
// and a rollback through `rewind serve`. It has no code of its own.
package composesmoke
