// Package fuzz holds the native Go fuzz targets of better-socket. It has no
// API; see the package documentation written in doc.go for the targets.
package fuzz
