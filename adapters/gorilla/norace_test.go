//go:build !race

package gorilla_test

const raceEnabled = false
