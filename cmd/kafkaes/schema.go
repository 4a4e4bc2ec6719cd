package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/riferrei/srclient"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// runSchema runs "schema check <file.avsc>": it checks a new schema against
// every version registered under its subject with the compatibility checker
// of package serde/avro (the same rules the serde applies before it
// registers a schema), at the subject's compatibility level.
func runSchema(ctx context.Context, e *env, args []string) int {
	if args[0] != "check" {
		return usageError(e, fmt.Errorf("schema takes check <file.avsc>, not %q", args[0]), "schema")
	}
	if e.registry == "" {
		e.errorf("schema check needs the Schema Registry: pass --schema-registry http://registry:8081 or set KAFKAES_SCHEMA_REGISTRY")
		return exitUsage
	}
	file := args[1]
	text, err := os.ReadFile(file)
	if err != nil {
		e.errorf("read the schema: %v", err)
		return exitFailure
	}
	parsed, err := avro.ParseSchema(string(text))
	if err != nil {
		e.errorf("%s is not a valid Avro schema: %v", file, err)
		return exitViolation
	}
	subject := e.opts.subject
	if subject == "" {
		if parsed.Name == "" {
			e.errorf("%s is not a named type (record, enum or fixed), so no subject can be derived from it; pass --subject", file)
			return exitUsage
		}
		subject = avro.TopicRecordName.Subject(e.topic, parsed.Name)
	}
	reg := newRegistry(e.registry, e.timeout, e.registryOpts...)
	history, err := reg.history(ctx, subject)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	if len(history) == 0 {
		fmt.Fprintf(e.stdout, "schema check: subject %q has no versions yet: %s would be its first schema (valid Avro, nothing to be compatible with)\n", subject, file)
		return exitOK
	}
	level := avro.Compatibility(strings.ToUpper(e.opts.level))
	source := "--level"
	if level == "" {
		level, err = reg.level(subject)
		if err != nil {
			e.errorf("%v", err)
			return exitFailure
		}
		source = "the registry's level for the subject"
	}
	if level == avro.None {
		fmt.Fprintf(e.stdout, "schema check: subject %q has compatibility NONE (%s): any change is accepted, nothing to check. "+
			"Events are kept forever, so set FULL_TRANSITIVE (or at least BACKWARD_TRANSITIVE) on the subject, or pass --level to check against it.\n", subject, source)
		return exitOK
	}
	err = avro.CheckCompatibility(level, string(text), history...)
	var ie *avro.IncompatibleError
	switch {
	case errors.As(err, &ie):
		ie.Subject = subject
		fmt.Fprintf(e.stdout, "schema check: %s is INCOMPATIBLE with subject %q (%s, level %s from %s)\n", file, subject, plural(len(history), "version", "versions"), level, source)
		fmt.Fprintf(e.stdout, "  breaks: version %d, %s\n  at:     %s\n  rule:   %s\n", ie.Version, ie.Direction, ie.Path, ie.Rule)
		fmt.Fprintln(e.stdout, "  fix:    make the change compatible (add fields with defaults, do not change field types), or introduce a new event type with an upcaster")
		return exitViolation
	case err != nil:
		e.errorf("check %s against subject %q: %v", file, subject, err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "schema check: %s is compatible with subject %q (%s, level %s from %s)\n", file, subject, plural(len(history), "version", "versions"), level, source)
	return exitOK
}

// history returns the schemas registered under subject, oldest first, with
// references inlined; none when the subject does not exist.
func (r *registry) history(ctx context.Context, subject string) ([]string, error) {
	versions, err := r.client.GetSchemaVersions(subject)
	if err != nil {
		var se srclient.Error
		if errors.As(err, &se) && se.Code == 40401 {
			return nil, nil
		}
		return nil, r.callErr(fmt.Sprintf("versions of subject %q", subject), err)
	}
	out := make([]string, 0, len(versions))
	for _, v := range versions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := r.client.GetSchemaByVersion(subject, v)
		if err != nil {
			return nil, r.callErr(fmt.Sprintf("subject %q version %d", subject, v), err)
		}
		if t := s.SchemaType(); t != nil && *t != srclient.Avro {
			return nil, fmt.Errorf("subject %q version %d is a %s schema, not Avro", subject, v, *t)
		}
		text := s.Schema()
		if refs := s.References(); len(refs) > 0 {
			if text, err = r.inline(text, refs); err != nil {
				return nil, fmt.Errorf("subject %q version %d: %w", subject, v, err)
			}
		}
		out = append(out, text)
	}
	return out, nil
}

// level returns the compatibility level of subject (the global level when
// the subject has none of its own).
func (r *registry) level(subject string) (avro.Compatibility, error) {
	l, err := r.client.GetCompatibilityLevel(subject, true)
	if err != nil {
		return "", r.callErr(fmt.Sprintf("compatibility level of subject %q", subject), err)
	}
	if l == nil {
		return avro.Backward, nil // the registry's default
	}
	return avro.Compatibility(strings.ToUpper(l.String())), nil
}
