package otelrr

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
)

// RecordedError is the error a boundary helper returns on replay when the
// recorded call failed. Its text is the recorded error's text.
type RecordedError struct {
	Text string
}

func (e *RecordedError) Error() string { return e.Text }

// spec describes one boundary call.
type spec struct {
	kind     boundary.Kind
	name     string
	spanName string
	spanKind trace.SpanKind
	attrs    []attribute.KeyValue
}

// call makes one boundary: it opens the span, gets the answer (from the real
// function when recording, from the recording when replaying), stores the
// span durably and only then hands the answer back.
func call[Resp any](ctx context.Context, sp spec, req any, real func(context.Context) (Resp, error)) (Resp, error) {
	var zero Resp
	run := runFromContext(ctx)
	if run == nil {
		return zero, ErrNoRun
	}
	reqJSON, err := boundary.Canonical(req)
	if err != nil {
		return zero, fmt.Errorf("otelrr: %s %s: request cannot be recorded: %w", sp.kind, sp.name, err)
	}
	sig := boundary.Signature(sp.kind, sp.name, reqJSON)
	attrs := append([]attribute.KeyValue{
		attribute.String(boundary.AttrKind, string(sp.kind)),
		attribute.String(boundary.AttrName, sp.name),
	}, sp.attrs...)
	ctx, span := run.tp.tracer.Start(ctx, sp.spanName, trace.WithSpanKind(sp.spanKind), trace.WithAttributes(attrs...))

	var (
		resp     Resp
		respJSON []byte
		failed   bool
		errText  string
		retErr   error
	)
	if run.session != nil {
		rec, div, derr := run.session.Next(sp.kind, sp.name, sig, reqJSON)
		switch {
		case derr != nil:
			span.SetAttributes(attribute.String(boundary.AttrDivergence, derr.Error()))
			failed, errText, retErr = true, derr.Error(), derr
		case rec.Failed:
			failed, errText, retErr = true, rec.Error, &RecordedError{Text: rec.Error}
		default:
			respJSON = rec.Response
			if err := json.Unmarshal(respJSON, &resp); err != nil {
				failed = true
				retErr = fmt.Errorf("otelrr: replay seq %d (%s %s): recorded response does not decode into %T: %w", rec.Seq, sp.kind, sp.name, resp, err)
				errText = retErr.Error()
				respJSON = nil
			}
		}
		if div != nil {
			span.SetAttributes(attribute.String(boundary.AttrDivergence, string(div.Reason)))
		}
	} else {
		out, callErr := real(ctx)
		if callErr != nil {
			failed, errText, retErr = true, callErr.Error(), callErr
		} else if respJSON, err = boundary.Canonical(out); err != nil {
			failed = true
			retErr = fmt.Errorf("otelrr: %s %s: response cannot be recorded: %w", sp.kind, sp.name, err)
			errText, respJSON = retErr.Error(), nil
		} else if err := json.Unmarshal(respJSON, &resp); err != nil {
			// Hand the agent what replay will hand it: the decoded record.
			failed = true
			retErr = fmt.Errorf("otelrr: %s %s: response %T does not round-trip through JSON: %w", sp.kind, sp.name, out, err)
			errText, respJSON = retErr.Error(), nil
		}
	}

	setPayload(span, reqJSON, respJSON, failed, errText, sig)
	if u, ok := any(resp).(UsageReporter); ok && !failed {
		in, out := u.Usage()
		span.SetAttributes(attribute.Int64(boundary.GenAIInputTokens, in), attribute.Int64(boundary.GenAIOutputTokens, out))
	}
	if failed {
		span.SetStatus(codes.Error, errText)
	}
	span.End()
	res, ok := run.commits.Take(span.SpanContext().SpanID())
	if !ok {
		return zero, fmt.Errorf("otelrr: %s %s was not recorded: its span never reached the durable processor (was the tracer provider shut down?)", sp.kind, sp.name)
	}
	if res.Err != nil {
		return zero, fmt.Errorf("otelrr: %s %s: %w", sp.kind, sp.name, res.Err)
	}
	if failed {
		return zero, retErr
	}
	return resp, nil
}

func setPayload(span trace.Span, req, resp []byte, failed bool, errText, sig string) {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attribute.String(boundary.AttrRequest, string(req)),
		attribute.Int(boundary.AttrRequestLength, len(req)),
		attribute.String(boundary.AttrSignature, sig),
	)
	if failed {
		attrs = append(attrs, attribute.String(boundary.AttrError, errText))
	} else {
		attrs = append(attrs,
			attribute.String(boundary.AttrResponse, string(resp)),
			attribute.Int(boundary.AttrResponseLength, len(resp)))
	}
	attrs = append(attrs, attribute.String(boundary.AttrPayloadHash, boundary.PayloadHash(req, resp, errText)))
	span.SetAttributes(attrs...)
}

// UsageReporter is implemented by LLM response types that know their token
// usage; LLM then sets the GenAI usage attributes on the boundary span.
type UsageReporter interface {
	Usage() (inputTokens, outputTokens int64)
}
