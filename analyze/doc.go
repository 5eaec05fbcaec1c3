// Package analyze turns replay outcomes into reports a person or a program
// can read: the structural diff of two payloads, the divergence table, and
// the same report as JSON.
package analyze
