// Package httpx records and replays HTTP exchanges as agentrr boundaries,
// byte for byte: it is what otelrr's HTTP transport and a recording proxy
// share, so that one exchange is recorded the same way (the same request
// shape and signature, the same secret rules, redaction and GenAI
// attributes) whichever of them saw it.
//
// Recording: [Capture] reads a request into its canonical recorded form
// (a [Request], what the boundary's signature covers) and names its
// boundary: an llm boundary with the GenAI attributes for a recognised LLM
// API (see package genai), else an http boundary. [Exchange.RecordResponse]
// turns the response into its recorded form ([Response]) and the response
// the client gets; [Exchange.RecordBody] and [Exchange.StreamBody] apply
// the secret masking and redaction to its body, and [NewRecordingBody]
// tees a streamed body as the client reads it. [Exchange.ResponseSpan] says
// what the response adds to the boundary span.
//
// Replaying: [Response.HTTPResponse] rebuilds the response the client got,
// and [NewReplayBody] serves its body in the recorded read sizes, then the
// recorded end.
//
// Secrets ([IsSecretName]: Authorization, API keys, cookies, tokens, …)
// never reach a Request, a Response or a span attribute: they are dropped
// by name and their values masked wherever else they appear.
//
// What is not here is what belongs to a run: matching against a recording,
// the error types an agent gets, and storing the boundary.
package httpx
