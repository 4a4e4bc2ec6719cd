package observe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
)

// Stream IDs are often personal data (an account per e-mail address).
// kafkaes puts them into log records (attribute "stream"), observer
// reports (the Stream fields) and, through the OpenTelemetry observer,
// span attributes (kafkaes.stream). [RedactStreams] and
// [RedactStreamsHandler] replace them, and their occurrences in error
// texts, by what a function makes of them: [HashStream] keeps them
// correlatable without showing them. docs/security.md lists what each
// component logs.

// HashStream returns a redaction function for [RedactStreams] and
// [RedactStreamsHandler] that replaces a stream ID by "sha256:" and the
// first 16 hex digits of SHA-256(salt + id): the same ID always gives the
// same pseudonym (logs and traces stay correlatable), and without the salt
// a pseudonym cannot be checked against guessed IDs.
func HashStream(salt string) func(string) string {
	return func(id string) string {
		if id == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(salt + id))
		return "sha256:" + hex.EncodeToString(sum[:8])
	}
}

// redactedError hides the stream ID in an error's text and keeps the
// error matchable (errors.Is / errors.As see the original).
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, stream, redacted string) error {
	if err == nil || stream == "" || !strings.Contains(err.Error(), stream) {
		return err
	}
	return &redactedError{err: err, msg: strings.ReplaceAll(err.Error(), stream, redacted)}
}

// RedactStreams returns an observer that passes every report to o with its
// stream ID replaced by redact(id), also inside the report's error text
// (the error still matches errors.Is and errors.As). Wrap the OpenTelemetry
// and log observers with it to keep stream IDs out of span attributes and
// log lines. A nil o or redact returns o unchanged.
func RedactStreams(o Observer, redact func(string) string) Observer {
	if o == nil || redact == nil {
		return o
	}
	return &redactor{o: o, h: Resolve(o), f: redact}
}

type redactor struct {
	Base
	o Observer
	h Hooks
	f func(string) string
}

func (r *redactor) ObserveAppend(ctx context.Context, a Append) {
	if r.h.Append != nil {
		red := r.f(a.Stream)
		a.Err, a.Stream = redactErr(a.Err, a.Stream, red), red
		r.h.Append.ObserveAppend(ctx, a)
	}
}

func (r *redactor) ObserveBatch(ctx context.Context, b Batch) {
	if r.h.Batch != nil {
		r.h.Batch.ObserveBatch(ctx, b)
	}
}

func (r *redactor) ObserveIndex(ctx context.Context, i Index) {
	if r.h.Index != nil {
		r.h.Index.ObserveIndex(ctx, i)
	}
}

func (r *redactor) ObserveLoad(ctx context.Context, l Load) {
	if r.h.Load != nil {
		red := r.f(l.Stream)
		l.Err, l.Stream = redactErr(l.Err, l.Stream, red), red
		r.h.Load.ObserveLoad(ctx, l)
	}
}

func (r *redactor) ObserveRetry(ctx context.Context, x Retry) {
	if r.h.Retry != nil {
		x.Stream = r.f(x.Stream)
		r.h.Retry.ObserveRetry(ctx, x)
	}
}

func (r *redactor) ObserveSnapshotWrite(ctx context.Context, w SnapshotWrite) {
	if r.h.Snapshot != nil {
		red := r.f(w.Stream)
		w.Err, w.Stream = redactErr(w.Err, w.Stream, red), red
		r.h.Snapshot.ObserveSnapshotWrite(ctx, w)
	}
}

func (r *redactor) ObserveSerde(ctx context.Context, s Serde) {
	if r.h.Serde != nil {
		r.h.Serde.ObserveSerde(ctx, s)
	}
}

func (r *redactor) ObserveRegistry(ctx context.Context, c RegistryCall) {
	if r.h.Registry != nil {
		r.h.Registry.ObserveRegistry(ctx, c)
	}
}

func (r *redactor) ObserveCache(ctx context.Context, c CacheLookup) {
	if r.h.Cache != nil {
		r.h.Cache.ObserveCache(ctx, c)
	}
}

func (r *redactor) ObserveHandled(ctx context.Context, h Handled) {
	if r.h.Handled != nil {
		red := r.f(h.Stream)
		h.Err, h.Stream = redactErr(h.Err, h.Stream, red), red
		r.h.Handled.ObserveHandled(ctx, h)
	}
}

func (r *redactor) ObserveFailure(ctx context.Context, f Failure) {
	if r.h.Failure != nil {
		red := r.f(f.Stream)
		f.Err, f.Stream = redactErr(f.Err, f.Stream, red), red
		r.h.Failure.ObserveFailure(ctx, f)
	}
}

func (r *redactor) ObserveLag(ctx context.Context, l Lag) {
	if r.h.Lag != nil {
		r.h.Lag.ObserveLag(ctx, l)
	}
}

func (r *redactor) ObserveRebuild(ctx context.Context, x Rebuild) {
	if r.h.Rebuild != nil {
		r.h.Rebuild.ObserveRebuild(ctx, x)
	}
}

// StreamAttr is the log attribute key under which every kafkaes component
// logs a stream ID.
const StreamAttr = "stream"

// RedactStreamsHandler returns a slog handler that passes records to h
// with the value of every top-level "stream" attribute replaced by
// redact(value), and that value's occurrences in the message and in the
// other top-level string and error attributes replaced too. Give loggers
// built on it to the components' WithLogger options to keep stream IDs out
// of their log lines. A nil redact returns h.
func RedactStreamsHandler(h slog.Handler, redact func(string) string) slog.Handler {
	if redact == nil {
		return h
	}
	return &redactHandler{h: h, f: redact}
}

type redactHandler struct {
	h slog.Handler
	f func(string) string
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		if a.Key == StreamAttr {
			a.Value = slog.StringValue(r.f(a.Value.String()))
		}
		out[i] = a
	}
	return &redactHandler{h: r.h.WithAttrs(out), f: r.f}
}

func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), f: r.f}
}

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	var ids []string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == StreamAttr {
			if id := a.Value.String(); id != "" {
				ids = append(ids, id)
			}
		}
		return true
	})
	if len(ids) == 0 {
		return r.h.Handle(ctx, rec)
	}
	pairs := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		pairs = append(pairs, id, r.f(id))
	}
	rep := strings.NewReplacer(pairs...)
	out := slog.NewRecord(rec.Time, rec.Level, rep.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == StreamAttr:
			a.Value = slog.StringValue(r.f(a.Value.String()))
		case a.Value.Kind() == slog.KindString:
			a.Value = slog.StringValue(rep.Replace(a.Value.String()))
		case a.Value.Kind() == slog.KindAny:
			if err, ok := a.Value.Any().(error); ok && err != nil {
				a.Value = slog.AnyValue(&redactedError{err: err, msg: rep.Replace(err.Error())})
			}
		}
		out.AddAttrs(a)
		return true
	})
	return r.h.Handle(ctx, out)
}
