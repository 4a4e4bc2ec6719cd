package pii

import "slices"

// Redactable is embedded (by value) in every event or state type with
// personal-data fields. Decoding sets it to the fields that were redacted
// because their subject's key was erased; [Redacted] and [IsRedacted] read
// it. It has no exported fields, so the JSON and Avro serdes do not
// encode it, and it adds nothing to the schema.
//
//	type PatientAdmitted struct {
//		pii.Redactable
//		PatientID string
//		Name      string `pii:"PatientID"`
//	}
type Redactable struct {
	redacted []string
}

// RedactedFields returns the Go names of the fields that were redacted
// when the value was decoded (nil when none was). The returned slice must
// not be modified.
func (r Redactable) RedactedFields() []string { return r.redacted }

// setRedacted is called by the decoder; an unexported method, so that
// only this package can set it.
func (r *Redactable) setRedacted(fields []string) { r.redacted = fields }

type redactedFielder interface{ RedactedFields() []string }

// Redacted returns the Go names of the fields of v (a value or a pointer)
// that were redacted on decode because their data subject was erased, or
// nil. Redacted fields hold their zero value ("" or nil). It works for
// events passed to aggregate Apply methods and projection handlers, and
// for snapshot states, whose types embed [Redactable].
func Redacted(v any) []string {
	if r, ok := v.(redactedFielder); ok {
		return r.RedactedFields()
	}
	return nil
}

// IsRedacted reports whether any field of v (or, with fields, any of the
// named fields) was redacted on decode.
func IsRedacted(v any, fields ...string) bool {
	got := Redacted(v)
	if len(fields) == 0 {
		return len(got) > 0
	}
	for _, f := range fields {
		if slices.Contains(got, f) {
			return true
		}
	}
	return false
}
