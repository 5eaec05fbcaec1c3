package exporter

import (
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SetForwarder makes the processor hand a copy of every span it sees to f:
// the agent's own spans and run root spans as they end, and boundary spans
// of attached runs right after their synced write, carrying the agentrr.seq
// (and agentrr.damage) they were stored with, which the live span does not
// have. Call it before the processor is registered with a tracer provider.
// The processor's Shutdown and ForceFlush shut down and flush f.
func (p *Processor) SetForwarder(f *Forwarder) { p.fwd = f }

// forwardBoundary forwards a boundary span once its write is done. A span
// whose write failed (not durably stored, so it has no seq) is forwarded
// without agentrr.seq: a replay from the backend then refuses it rather
// than guess its place.
//
// extra holds the attributes the store added to the span (seq, branch
// index, concurrency group, damage).
func (p *Processor) forwardBoundary(s sdktrace.ReadOnlySpan, extra []attribute.KeyValue, damage string, err error) {
	if p.fwd == nil {
		return
	}
	if err != nil && damage == "" {
		p.fwd.Forward(s)
		return
	}
	p.fwd.Forward(s, extra...)
}
