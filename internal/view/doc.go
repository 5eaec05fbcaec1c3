// Package view is agentrr's local web view of a store: the run list, a run
// as a timeline of its boundaries by branch, each boundary's request and
// response (an LLM call as a conversation, the raw JSON a click away), a
// replay's divergence with the structural diff side by side, two runs
// compared as agentrr diff aligns them, and where a request's text came
// from (analyze.Why).
//
// Handler serves the page and a small JSON API over a store; the page is
// plain HTML, CSS and JavaScript embedded in the binary (assets/), loads
// nothing from anywhere else, and polls the API so that runs being
// recorded show up as they change. WriteReport writes the same page, with
// the API's answers for one run embedded, as one self-contained HTML file.
//
// The view shows what the store holds and nothing else: values the
// recorder redacted appear redacted, and nothing is fetched from the
// network. The server is meant for loopback: it refuses requests whose
// Host is not a loopback name or address, so that a web page elsewhere
// cannot read the store through DNS rebinding.
package view
