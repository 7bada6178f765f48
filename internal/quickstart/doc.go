// Package quickstart holds the test that follows the README's quick start
// verbatim: `make run`'s script, then the commands it prints, as a newcomer
// would paste them. It has no code of its own.
package quickstart
